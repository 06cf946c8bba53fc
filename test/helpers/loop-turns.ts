/**
 * Counts the turns of the event loop until stopped: work that never hands the loop back leaves the
 * count at 0, however long it takes.
 */
export function countLoopTurns(): { stop(): number } {
  let turns = 0;
  let ticking = true;
  const tick = () => {
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    stop() {
      ticking = false;
      return turns;
    },
  };
}
