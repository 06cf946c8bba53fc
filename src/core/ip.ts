/**
 * Strict textual IP address checks (RFC 791 dotted quad without leading zeros; RFC 4291 §2.2 IPv6
 * text forms, optionally ending in a dotted quad). Zone identifiers are rejected: they are local to one
 * host and mean nothing in an audit record.
 */

export function isIPv4(text: string): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  return parts.every(isOctet);
}

function isOctet(part: string): boolean {
  if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return false;
  return Number(part) <= 255;
}

export function isIPv6(text: string): boolean {
  if (text.length > 45 || text.length < 2) return false;
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = (half: string) => (half === '' ? [] : half.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...head, ...tail];
  let width = 0;
  for (let i = 0; i < all.length; i++) {
    const group = all[i]!;
    const isLast = i === all.length - 1;
    if (isLast && group.includes('.')) {
      if (!isIPv4(group)) return false;
      width += 2;
    } else if (/^[0-9A-Fa-f]{1,4}$/.test(group)) {
      width += 1;
    } else {
      return false;
    }
  }
  // "::" stands for at least one zero group.
  return halves.length === 2 ? width <= 7 : width === 8;
}
