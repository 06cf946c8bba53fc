import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { greatCircleKm, impossibleTravelDetector } from '../../../src/detection/behaviour/impossible-travel.js';
import type { IpLocation } from '../../../src/store/store.js';
import { DAY, HOUR, MINUTE, MONDAY, Stream, alice, run } from './helpers.js';

const BERLIN = { country: 'DE', city: 'Berlin', latitude: 52.52, longitude: 13.405 } satisfies IpLocation;
const SAO_PAULO = { country: 'BR', city: 'São Paulo', latitude: -23.55, longitude: -46.633 } satisfies IpLocation;
const STRASBOURG_FR = { country: 'FR', city: 'Strasbourg', latitude: 48.573, longitude: 7.752 } satisfies IpLocation;
const KEHL_DE = { country: 'DE', city: 'Kehl', latitude: 48.571, longitude: 7.815 } satisfies IpLocation;
const NEW_YORK = { country: 'US', city: 'New York', latitude: 40.71, longitude: -74.0 } satisfies IpLocation;
const LOS_ANGELES = { country: 'US', city: 'Los Angeles', latitude: 34.05, longitude: -118.24 } satisfies IpLocation;
const PARIS = { country: 'FR', city: 'Paris', latitude: 48.857, longitude: 2.352 } satisfies IpLocation;

const login = (stream: Stream, at: number, location: IpLocation, outcome: 'success' | 'failure' = 'success') =>
  stream.add({ at, action: 'auth.login', category: 'auth', outcome, location, ip: '198.51.100.9' });

/** Ten days of work from Berlin, with a login each morning. */
function home(stream = new Stream(), at: IpLocation = BERLIN): Stream {
  for (let d = 0; d < 10; d++) {
    login(stream, MONDAY + d * DAY + 8 * HOUR, at);
    for (let i = 1; i <= 4; i++) stream.add({ at: MONDAY + d * DAY + (8 + i) * HOUR, location: at });
  }
  return stream;
}

describe('impossible travel between consecutive logins', () => {
  it('reports logins from Berlin and São Paulo 50 minutes apart, with both events', () => {
    const stream = home();
    const t = MONDAY + 10 * DAY + 8 * HOUR;
    const first = login(stream, t, BERLIN);
    const second = login(stream, t + 50 * MINUTE, SAO_PAULO);
    const { findings } = run(impossibleTravelDetector(), stream.events);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.severity, 'high');
    assert.deepEqual(findings[0]!.events, [{ ledger: 'app', index: first.index }, { ledger: 'app', index: second.index }]);
    assert.match(findings[0]!.summary, /Berlin, DE .* São Paulo, BR 50 min later: at least \d+ km/);
  });

  it('stays quiet for a flight (13 hours), a border town, coast to coast in one country, and a country already known', () => {
    const t = MONDAY + 10 * DAY + 8 * HOUR;
    const flight = home();
    login(flight, t, BERLIN);
    login(flight, t + 13 * HOUR, SAO_PAULO);
    assert.deepEqual(run(impossibleTravelDetector(), flight.events).findings, [], 'plane speed');

    const border = home();
    login(border, t, KEHL_DE);
    login(border, t + 10 * MINUTE, STRASBOURG_FR);
    assert.deepEqual(run(impossibleTravelDetector(), border.events).findings, [], 'within the geolocation error');

    const usa = home(new Stream(), NEW_YORK);
    login(usa, t, NEW_YORK);
    login(usa, t + HOUR, LOS_ANGELES);
    assert.deepEqual(run(impossibleTravelDetector(), usa.events).findings, [], 'one country');

    const known = home();
    known.add({ at: MONDAY + 2 * DAY + 20 * HOUR, location: SAO_PAULO }); // works through a São Paulo VPN now and then
    login(known, t, BERLIN);
    login(known, t + 50 * MINUTE, SAO_PAULO);
    assert.deepEqual(run(impossibleTravelDetector(), known.events).findings, [], 'a country the actor acts from');

    const failed = home();
    login(failed, t, BERLIN);
    login(failed, t + 50 * MINUTE, SAO_PAULO, 'failure');
    assert.deepEqual(run(impossibleTravelDetector(), failed.events).findings, [], 'a failed login is not a position');
  });

  it('learns first: an actor seen for a few days only is not judged', () => {
    const stream = new Stream();
    for (let d = 0; d < 3; d++) login(stream, MONDAY + d * DAY, BERLIN);
    login(stream, MONDAY + 3 * DAY, BERLIN);
    login(stream, MONDAY + 3 * DAY + 30 * MINUTE, SAO_PAULO);
    assert.deepEqual(run(impossibleTravelDetector({ learningMicros: 0 }), stream.events).findings, []);
  });

  it('judges on event time: a late login delivered out of order does not move the actor', () => {
    const stream = home();
    const t = MONDAY + 10 * DAY + 8 * HOUR;
    login(stream, t, BERLIN);
    login(stream, t - 3 * DAY, SAO_PAULO); // an old login, delivered late
    login(stream, t + 30 * MINUTE, BERLIN);
    assert.deepEqual(run(impossibleTravelDetector(), stream.events).findings, []);
  });

  it('survives JSON round trips of its state and keeps it bounded', () => {
    const stream = home();
    const t = MONDAY + 10 * DAY + 8 * HOUR;
    login(stream, t, BERLIN);
    login(stream, t + 50 * MINUTE, SAO_PAULO);
    const straight = run(impossibleTravelDetector(), stream.events).findings;
    assert.equal(straight.length, 1);
    assert.deepEqual(run(impossibleTravelDetector(), stream.events, { roundTripEvery: 7 }).findings, straight);
    const many = new Stream();
    for (let i = 0; i < 500; i++) many.add({ actor: { type: 'user', id: `u${i}` }, at: MONDAY + i, location: PARIS });
    assert.equal(run(impossibleTravelDetector({ maxActors: 64 }), many.events).state.actors.size, 64);
    void alice;
  });

  it('measures great-circle distances', () => {
    const km = greatCircleKm(BERLIN, SAO_PAULO);
    assert.ok(km > 10_000 && km < 10_300, `${km}`);
    assert.ok(greatCircleKm(PARIS, PARIS) === 0);
  });
});
