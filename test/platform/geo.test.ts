import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipBytes } from '../../src/core/ipnet.js';
import { GEO_ATTRIBUTION, GeoUnavailableError, openGeo, reservedKind, type Geo } from '../../src/platform/geo.js';

/** The bundled database, or why there is none (a failure under CI, where it must be installed). */
function bundled(): Geo | string {
  try {
    return openGeo();
  } catch (error) {
    if (!(error instanceof GeoUnavailableError) || process.env.CI) throw error;
    process.stderr.write(`SKIPPING geolocation lookups: ${error.message}\n`);
    return error.message;
  }
}

const geo = bundled();
const skip = typeof geo === 'string' ? geo : false;
const db = () => geo as Geo;

describe('geolocation: special-purpose addresses', () => {
  const cases: Array<[string, string]> = [
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.10', 'private'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.200', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.251', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fd12:3456:789a::1', 'private'],
    ['fc00::1', 'private'],
    ['2001:db8::42', 'documentation'],
    ['3fff:1::1', 'documentation'],
    ['ff02::fb', 'multicast'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:192.0.2.1', 'documentation'],
    ['64:ff9b::a00:1', 'private'], // NAT64 of 10.0.0.1
    ['::5', 'reserved'],
  ];

  it('labels each range by its kind', () => {
    for (const [ip, kind] of cases) assert.equal(reservedKind(ipBytes(ip)!), kind, ip);
  });

  it('leaves the neighbours of the ranges alone', () => {
    for (const ip of ['172.15.255.255', '172.32.0.0', '100.63.255.255', '100.128.0.0', '192.0.3.1', '198.51.101.1', '203.0.114.1', '11.0.0.1', '8.8.8.8', '2001:db9::1', '2a00::1', '::ffff:8.8.8.8']) {
      assert.equal(reservedKind(ipBytes(ip)!), undefined, ip);
    }
  });

  it('answers { reserved } with no country, without a database entry', { skip }, () => {
    for (const [ip, kind] of cases) {
      assert.deepEqual(db().lookup(ip), { reserved: kind }, ip);
      assert.equal(db().country(ip), undefined, ip);
    }
  });
});

describe('geolocation: bundled DB-IP database', { skip }, () => {
  // Addresses of long-lived institutions whose registration and location do not move; public DNS
  // anycast addresses other than 8.8.8.8 differ between databases (1.1.1.1 is AU in DB-IP, US elsewhere).
  const stable: Array<[string, string]> = [
    ['8.8.8.8', 'US'], // Google Public DNS
    ['193.0.14.129', 'NL'], // k.root-servers.net, RIPE NCC, Amsterdam
    ['133.11.0.1', 'JP'], // University of Tokyo
    ['131.111.8.46', 'GB'], // University of Cambridge
    ['200.160.2.3', 'BR'], // NIC.br, São Paulo
    ['2001:67c:2e8:22::c100:68b', 'NL'], // RIPE NCC
    ['2001:200:dff:fff1:216:3eff:feb1:44d7', 'JP'], // WIDE project
  ];

  it('places well-known public addresses in their country', () => {
    for (const [ip, country] of stable) assert.equal(db().country(ip), country, ip);
    assert.ok(['AU', 'US'].includes(db().country('1.1.1.1') ?? ''), '1.1.1.1');
  });

  it('gives city-level detail when the city database is installed', () => {
    const info = db().lookup('8.8.8.8')!;
    assert.equal(info.country, 'US');
    assert.equal(info.reserved, undefined);
    if (db().source.ipv4?.includes('city')) {
      assert.equal(typeof info.city, 'string');
      assert.ok(Math.abs(info.latitude! - 37.4) < 5 && Math.abs(info.longitude! + 122) < 5, JSON.stringify(info));
    }
  });

  it('treats IPv4-mapped and NAT64 spellings as the IPv4 address', () => {
    assert.equal(db().country('::ffff:8.8.8.8'), 'US');
    assert.equal(db().country('::ffff:808:808'), 'US');
    assert.equal(db().country('64:ff9b::8.8.8.8'), 'US');
  });

  it('returns undefined for text that is not an address', () => {
    for (const text of ['', 'localhost', '8.8.8', '1.2.3.256', '08.8.8.8', 'fe80::1%eth0']) {
      assert.equal(db().lookup(text), undefined, text);
      assert.equal(db().country(text), undefined, text);
    }
  });

  it('states the attribution DB-IP requires', () => {
    assert.equal(db().source.attribution, GEO_ATTRIBUTION);
    assert.match(GEO_ATTRIBUTION, /DB-IP/);
    assert.ok(db().source.databaseType);
  });

  it('answers repeated addresses from its cache with the same frozen value', () => {
    const a = db().lookup('193.0.14.129');
    assert.equal(db().lookup('193.0.14.129'), a);
    assert.ok(Object.isFrozen(a));
  });
});

describe('geolocation: opening', () => {
  it('says why when the path holds no database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealtrail-geo-'));
    try {
      assert.throws(() => openGeo(join(dir, 'missing.mmdb')), GeoUnavailableError);
      assert.throws(() => openGeo(dir), /no \.mmdb file/);
      writeFileSync(join(dir, 'a.mmdb'), 'x');
      writeFileSync(join(dir, 'b.mmdb'), 'x');
      assert.throws(() => openGeo(dir), /several \.mmdb files/);
      assert.throws(() => openGeo(join(dir, 'a.mmdb')), GeoUnavailableError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
