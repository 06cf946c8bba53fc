/**
 * OCSF export checked against the OCSF 1.8.0 schema definition files copied into
 * test/fixtures/ocsf-1.8.0 (Apache-2.0; see its README.md). For every exported event the test resolves
 * the class (following `extends` to base_event, and `$include`d profiles), then checks that every
 * required attribute is present with its basic type, recursively into objects (with their `extends`
 * chain and `at_least_one` constraints), that no attribute is made up, that enums hold defined values,
 * and the uid arithmetic.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { classify, OCSF_CLASSES, toOcsf } from '../../../src/core/export/ocsf.js';
import type { AuditEvent } from '../../../src/core/event.js';
import { recordCorpus, sealedRecord } from './helpers.js';
import { sampleEvent } from '../../helpers/events.js';
import { GEO_ATTRIBUTION, openGeo } from '../../../src/platform/geo.js';

const SCHEMA = fileURLToPath(new URL('../../fixtures/ocsf-1.8.0/', import.meta.url));

type Json = Record<string, any>;

function load(path: string): Json {
  const file = join(SCHEMA, path);
  assert.ok(existsSync(file), `the OCSF fixture lacks ${path}: copy it from the OCSF 1.8.0 schema with the others`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

const dictionary = load('dictionary.json');
const categories = load('categories.json').attributes as Record<string, { uid: number }>;

function eventFiles(dir = join(SCHEMA, 'events')): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? eventFiles(path) : [path];
  });
}
const classFiles = new Map(eventFiles().map((path) => {
  const json = JSON.parse(readFileSync(path, 'utf8'));
  return [json.name as string, json] as const;
}));

interface Attribute {
  requirement?: string;
  /** The profile that brings the attribute in, when only a profile does. */
  profile?: string;
  enum?: Record<string, unknown>;
}

interface Resolved {
  attributes: Map<string, Attribute>;
  atLeastOne?: string[];
  category?: string;
  uid?: number;
}

/** Merges a definition's attributes (and its $include'd profiles) over those of the definitions it extends. */
function resolve(definition: Json, lookup: (name: string) => Json): Resolved {
  const parent = definition.extends ? resolve(lookup(definition.extends), lookup) : { attributes: new Map<string, Attribute>() };
  const attributes = new Map(parent.attributes);
  const own = (definition.attributes ?? {}) as Json;
  for (const include of (own.$include ?? []) as string[]) {
    const profile = load(include);
    for (const [name, attr] of Object.entries(profile.attributes ?? {}) as Array<[string, Json]>) {
      if (!attributes.has(name)) attributes.set(name, { ...attr, profile: profile.name });
    }
  }
  for (const [name, attr] of Object.entries(own) as Array<[string, Json]>) {
    if (name === '$include') continue;
    const merged: Attribute = { ...attributes.get(name), ...attr };
    // `"profile": null` in a class makes an attribute its own, whichever profile also defines it.
    if ('profile' in attr && attr.profile === null) delete merged.profile;
    else if (attributes.get(name) === undefined) delete merged.profile;
    attributes.set(name, merged);
  }
  return {
    attributes,
    atLeastOne: definition.constraints?.at_least_one ?? parent.atLeastOne,
    category: definition.category ?? parent.category,
    uid: definition.uid,
  };
}

const resolveClass = (name: string) => resolve(classFiles.get(name) ?? assert.fail(`no class ${name}`), (n) => classFiles.get(n) ?? assert.fail(`no class ${n}`));
const resolveObject = (name: string) => resolve(load(`objects/${name}.json`), (n) => load(`objects/${n}.json`));

/** The basic JSON type of a dictionary type name (`string_t`, `timestamp_t`, … or an object name). */
function basicType(type: string): 'string' | 'integer' | 'number' | 'boolean' | 'any' | 'object' {
  const types = dictionary.types.attributes as Record<string, { type?: string }>;
  if (!(type in types)) return 'object';
  let base = type;
  while (types[base]?.type) base = types[base]!.type!;
  switch (base) {
    case 'string_t': return 'string';
    case 'integer_t': case 'long_t': return 'integer';
    case 'float_t': return 'number';
    case 'boolean_t': return 'boolean';
    case 'json_t': return 'any';
    default: return assert.fail(`unknown OCSF base type ${base}`);
  }
}

function checkValue(value: unknown, type: string, path: string): void {
  const kind = basicType(type);
  if (kind === 'any') return;
  if (kind === 'object') {
    assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `${path} must be an object (${type})`);
    if (type !== 'object') checkObject(value as Json, resolveObject(type), path);
    return;
  }
  if (kind === 'integer') assert.ok(Number.isSafeInteger(value), `${path} must be an integer (${type}), got ${JSON.stringify(value)}`);
  else assert.equal(typeof value, kind, `${path} must be a ${kind} (${type})`);
  if (type === 'ip_t') assert.ok(isIP(value as string) !== 0, `${path} must be an IP address`);
  if (type === 'email_t') assert.match(value as string, new RegExp(dictionary.types.attributes.email_t.regex), `${path} must be an e-mail address`);
}

/** Required attributes present and typed, enums respected, constraints met, nothing undefined. */
function checkObject(value: Json, resolved: Resolved, path: string, profiles: string[] = []): void {
  for (const [name, attr] of resolved.attributes) {
    const applies = attr.profile === undefined || profiles.includes(attr.profile);
    if (applies && attr.requirement === 'required') assert.ok(value[name] !== undefined, `${path}.${name} is required`);
  }
  if (resolved.atLeastOne) {
    assert.ok(resolved.atLeastOne.some((name) => value[name] !== undefined), `${path} needs one of ${resolved.atLeastOne.join(', ')}`);
  }
  for (const [name, member] of Object.entries(value)) {
    const attr = resolved.attributes.get(name);
    assert.ok(attr, `${path}.${name} is not an attribute of this class or object`);
    const definition = dictionary.attributes[name];
    assert.ok(definition, `${path}.${name} is not in the dictionary`);
    if (name === 'unmapped') continue;
    if (definition.is_array) {
      assert.ok(Array.isArray(member), `${path}.${name} must be an array`);
      (member as unknown[]).forEach((item, i) => checkValue(item, definition.type, `${path}.${name}[${i}]`));
    } else checkValue(member, definition.type, `${path}.${name}`);
    const values = attr.enum ?? definition.enum;
    if (values && name.endsWith('_id')) assert.ok(String(member) in values || String(member) in (definition.enum ?? {}), `${path}.${name} = ${String(member)} is not defined`);
  }
}

function className(classUid: number): string {
  for (const [name, file] of classFiles) {
    if (file.uid === undefined) continue;
    const category = resolveClass(name).category!;
    if (categories[category]!.uid * 1000 + file.uid === classUid) return name;
  }
  return assert.fail(`no class with uid ${classUid}`);
}

function checkEvent(ocsf: Json): void {
  const name = className(ocsf.class_uid);
  const resolved = resolveClass(name);
  checkObject(ocsf, resolved, name, ocsf.metadata?.profiles ?? []);
  assert.equal(ocsf.category_uid, categories[resolved.category!]!.uid);
  assert.equal(ocsf.class_uid, ocsf.category_uid * 1000 + resolved.uid!);
  assert.equal(ocsf.type_uid, ocsf.class_uid * 100 + ocsf.activity_id);
  assert.equal(ocsf.metadata.version, '1.8.0');
  assert.deepEqual(Object.keys(ocsf.metadata.product).sort(), ['name', 'vendor_name', 'version']);
}

const event = (action: string, category: AuditEvent['category'], targets: AuditEvent['targets'] = [], extra: Partial<AuditEvent> = {}): AuditEvent => ({
  ...sampleEvent(1),
  action,
  category,
  targets,
  ...extra,
});

/** One event per row of the class table in docs/EXPORT.md, with its expected class and activity. */
const TABLE: Array<[AuditEvent, number, number]> = [
  [event('auth.login', 'auth'), 3002, 1],
  [event('auth.logout', 'auth'), 3002, 2],
  [event('auth.token_rejected', 'auth', [], { outcome: 'failure' }), 3002, 99],
  [event('session.signin', 'auth'), 3002, 1],
  [event('user.create', 'admin', [{ type: 'user', id: 'bob' }]), 3001, 1],
  [event('account.password_reset', 'update', [{ type: 'account', id: 'bob' }]), 3001, 4],
  [event('user.lock', 'admin', [{ type: 'user', id: 'bob' }]), 3001, 9],
  [event('user.rename', 'admin', [{ type: 'user', id: 'bob' }]), 3001, 99],
  [event('role.grant', 'admin', [{ type: 'user', id: 'bob' }, { type: 'role', id: 'billing-admin' }]), 3005, 1],
  [event('permission.revoke', 'admin', [{ type: 'user', id: 'bob' }, { type: 'permission', id: 'files:write' }]), 3005, 2],
  [event('group.add_member', 'admin', [{ type: 'group', id: 'ops' }, { type: 'user', id: 'bob' }]), 3006, 3],
  [event('group.create', 'create', [{ type: 'group', id: 'ops', name: 'Operations' }]), 3006, 6],
  [event('key.create', 'admin', [{ type: 'api_key', id: 'k1' }]), 3004, 1],
  [event('key.revoke', 'admin', [{ type: 'api_key', id: 'k1' }]), 3004, 9],
  [event('role.create', 'create', [{ type: 'role', id: 'auditor' }]), 3004, 1],
  [event('settings.change', 'admin', [{ type: 'setting', id: 'mfa' }]), 3004, 99],
  [event('file.download', 'read', [{ type: 'file', id: 'f-1' }]), 6003, 2],
  [event('invoice.create', 'create'), 6003, 1],
  [event('invoice.update', 'update'), 6003, 3],
  [event('invoice.delete', 'delete'), 6003, 4],
  [event('report.export', 'export'), 6003, 99],
  [event('job.run', 'execute'), 6003, 99],
  // An IAM class needs its target; without one the event is API Activity.
  [event('user.create', 'admin'), 6003, 99],
  [event('role.grant', 'admin', [{ type: 'user', id: 'bob' }]), 3004, 99],
  // Reading a user is not an account change.
  [event('user.read', 'read', [{ type: 'user', id: 'bob' }]), 6003, 2],
];

describe('OCSF 1.8.0 export', () => {
  it('classifies actions as in the documented table', () => {
    for (const [e, classUid, activityId] of TABLE) {
      const { cls, activityId: activity } = classify(e as unknown as Json);
      assert.deepEqual([cls.uid, activity], [classUid, activityId], `${e.action} (${e.category}, ${e.targets?.length ?? 0} targets)`);
    }
  });

  it('exports every class with all its required attributes, typed, and nothing outside the schema', () => {
    const seen = new Set<number>();
    const records = [...recordCorpus(), ...TABLE.map(([e], i) => sealedRecord(e, { index: 500 + i }))];
    for (const record of records) {
      const ocsf = toOcsf(record);
      checkEvent(ocsf);
      seen.add(ocsf.class_uid as number);
      // Sealtrail's own fields are kept, unmapped.
      assert.equal((ocsf.unmapped as Json).leaf_hash, record.leaf_hash);
      assert.equal((ocsf.unmapped as Json).index, record.index);
    }
    assert.deepEqual([...seen].sort(), Object.values(OCSF_CLASSES).map((c) => c.uid).sort());
  });

  it('places the source endpoint with the OCSF location object, attributed, and only where it is a place', () => {
    const berlin = openGeo().lookup('79.192.10.20')!;
    const located = toOcsf(sealedRecord({ ...sampleEvent(0), origin: { ip: '79.192.10.20' } }, { location: berlin }));
    checkEvent(located);
    const location = (located.src_endpoint as Json).location as Json;
    assert.deepEqual(location, {
      ...(berlin.city ? { city: berlin.city } : {}),
      country: 'DE',
      ...(berlin.region ? { desc: [berlin.city, berlin.region, 'DE'].filter(Boolean).join(', ') } : {}),
      lat: berlin.latitude,
      long: berlin.longitude,
      provider: GEO_ATTRIBUTION,
    });
    const coded = toOcsf(sealedRecord(sampleEvent(1), { location: { country: 'CH', region: 'CH-VD', city: 'Lausanne', latitude: 46.52, longitude: 6.63 } }));
    checkEvent(coded);
    assert.deepEqual(((coded.src_endpoint as Json).location as Json).region, 'CH-VD');
    for (const location of [{ reserved: 'private' }, { region: 'Vaud', latitude: 46.5, longitude: 6.6 }]) {
      const none = toOcsf(sealedRecord(sampleEvent(2), { location }));
      checkEvent(none);
      assert.equal((none.src_endpoint as Json).location, undefined, JSON.stringify(location));
    }
    // Without an address there is nothing the location could describe.
    const erased = toOcsf(sealedRecord(sampleEvent(2), { location: berlin, redact: { 'origin.ip': 'erased' } }));
    checkEvent(erased);
    assert.equal((erased.src_endpoint as Json).location, undefined);
  });

  it('derives time, status and severity from the record', () => {
    const record = sealedRecord({ ...sampleEvent(0), category: 'auth', action: 'auth.login', outcome: 'failure' });
    const ocsf = toOcsf(record);
    assert.equal(ocsf.time, Date.parse(record.received_at));
    assert.deepEqual([ocsf.status_id, ocsf.status, ocsf.status_detail], [2, 'Failure', 'invalid password']);
    assert.deepEqual([ocsf.severity_id, ocsf.severity], [3, 'Medium']);
    assert.equal(ocsf.type_uid, 300201);
    assert.equal((ocsf.metadata as Json).original_time, '2026-11-26T07:00:00.123Z');
    assert.equal((ocsf.src_endpoint as Json).ip, '203.0.113.0');
    const success = toOcsf(sealedRecord(sampleEvent(3)));
    assert.deepEqual([success.status_id, success.severity_id, (success.api as Json).operation], [1, 1, 'file.download']);
  });

  it('marks removed values in place for strings and in unmapped.redacted for all', () => {
    const record = sealedRecord(sampleEvent(1), { redact: { 'actor.name': 'erased', 'actor.email': 'purged', 'origin.ip': 'purged', 'actor.id': 'erased' } });
    const ocsf = toOcsf(record);
    checkEvent(ocsf);
    const user = (ocsf.actor as Json).user as Json;
    assert.equal(user.name, '[erased]');
    assert.equal(user.uid, '[erased]');
    assert.equal(user.email_addr, undefined, 'an e-mail attribute cannot hold a marker');
    assert.equal((ocsf.src_endpoint as Json).ip, undefined);
    assert.deepEqual((ocsf.unmapped as Json).redacted, { 'actor.name': 'erased', 'actor.email': 'purged', 'origin.ip': 'purged', 'actor.id': 'erased' });
  });
});
