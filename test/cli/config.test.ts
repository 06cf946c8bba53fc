/** `serve --config FILE` (issue 18): every flag has a key, mistakes name their key and line, flags and environment win. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandArgs, type ParsedArgs } from '../../src/cli/command.js';
import { serveCommand } from '../../src/cli/commands/serve.js';
import { MAX_CONFIG_BYTES, readConfigFile, withConfigValues } from '../../src/cli/config.js';
import { ConfigError } from '../../src/server/deployment.js';
import { runCli } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ADMIN_TOKEN = 'config-test-admin-token-0123456789';
let dir: string;
let counter = 0;

/** Writes a config file and returns its path. */
function configFile(text: string, extension = 'yaml'): string {
  const path = join(dir, `sealtrail-${++counter}.${extension}`);
  writeFileSync(path, text);
  return path;
}

const read = (text: string, extension?: string) => readConfigFile(configFile(text, extension), serveCommand.options);
const refusal = (text: string, pattern: RegExp) => assert.throws(() => read(text), (error: Error) => error instanceof ConfigError && pattern.test(error.message), pattern.source);

/** parseCommandArgs with only the given SEALTRAIL_* variables set, as a user's shell would. */
function parseServe(argv: string[], env: Record<string, string> = {}): ParsedArgs {
  const saved = { ...process.env };
  for (const name of Object.keys(process.env)) if (name.startsWith('SEALTRAIL_')) delete process.env[name];
  Object.assign(process.env, env);
  try {
    const parsed = parseCommandArgs(serveCommand, argv);
    assert.notEqual(parsed, 'help');
    return parsed as ParsedArgs;
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sealtrail-config-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('serve --config: reading the file', () => {
  it('has a key for every serve flag, in YAML or JSON', () => {
    const flags = Object.keys(serveCommand.options).filter((name) => name !== 'config');
    const yaml = flags.map((name) => `${name}: ${serveCommand.options[name]!.type === 'boolean' ? 'true' : '"1"'}`).join('\n');
    assert.deepEqual(Object.keys(read(yaml).values).sort(), flags.sort());
    const json = read('{"port": 9000, "host": "0.0.0.0", "quiet": true}', 'json');
    assert.deepEqual(json.values, { port: '9000', host: '0.0.0.0', quiet: true });
    assert.deepEqual(read('# nothing set yet\n').values, {});
  });

  it('names the line of an unknown key and the key it probably meant', () => {
    refusal('port: 8470\nprot: 9000\n', /line 2: prot: unknown key \(did you mean "port"\?\)/);
    refusal('rate_limit: 10\n', /line 1: rate_limit: unknown key \(did you mean "rate-limit"\?\)/);
    refusal('SEALTRAIL_QUERY_TIMEOUT: 10\n', /did you mean "query-timeout"/);
    refusal('retension:\n  rules: []\n', /line 1: retension: unknown key \(did you mean "retention"\?\)/);
    refusal('colour: blue\n', /line 1: colour: unknown key; the keys are the serve flags/);
    refusal('config: other.yaml\n', /config: unknown key \(a configuration file cannot name another\)/);
  });

  it('checks sinks as POST /v1/sinks would, and detection rules as a folder or {folder, disable}', () => {
    refusal('port: 1\nsinks:\n  - type: webhook\n', /line 2: sinks\[0\]: name must be/);
    refusal('sinks:\n  name: x\n', /line 1: sinks: must be a list of sinks/);
    refusal('rules: []\n', /line 1: rules: a rule folder, or a mapping with folder: and disable:/);
    refusal('rules:\n  folder: ./r\n  disabled: [x]\n', /line 1: rules: unknown key "disabled" \(folder, disable\)/);
    refusal('rules:\n  disable: [1]\n', /rules: disable must be a list of rule ids/);
    assert.equal(read('rules: ./my-rules\n').values.rules, './my-rules');
    const mapped = read('rules:\n  folder: ./my-rules\n  disable: [sealtrail-sink-disabled]\n');
    assert.equal(mapped.values.rules, './my-rules');
    assert.deepEqual(mapped.rulesDisabled, ['sealtrail-sink-disabled']);
  });

  it('refuses values of the wrong kind, duplicate keys and broken syntax, with the line', () => {
    refusal('quiet: yes\n', /line 1: quiet: must be true or false, not string "yes"/);
    refusal('host:\n  - a\n', /line 1: host: must be a ADDR .*not a list/);
    refusal('name:\n', /line 1: name: must be .*not nothing/);
    refusal('port: 1\nport: 2\n', /line 2: not valid YAML or JSON: Map keys must be unique/);
    refusal('port: 1\n  host: [\n', /line \d: not valid YAML or JSON/);
    refusal('- port\n', /the configuration is a mapping of keys/);
    refusal('{"port": 1', /line 1: not valid YAML or JSON/);
    const big = configFile(`# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    assert.throws(() => readConfigFile(big, serveCommand.options), /a configuration file has at most/);
  });

  it('checks the retention policy with the policy parser, naming the key and its line', () => {
    const ok = read('retention:\n  rules:\n    - id: keep-auth\n      action: "auth.*"\n      retain: 400d\n');
    assert.equal(ok.retention?.rules[0]?.id, 'keep-auth');
    refusal('retention:\n  rules:\n    - id: keep-auth\n      retain: 400 days\n', /line 4: retention\.rules\.0\.retain: /);
    refusal('retention:\n  rules: []\n  colour: blue\n', /retention\.colour: unknown member "colour"/);
    refusal('retention:\n  rules:\n    - id: short\n      retain: 30d\n', /rules short keep events for less than 12 months.*retention-force: true/);
    assert.equal(read('retention-force: true\nretention:\n  rules:\n    - id: short\n      retain: 30d\n').retentionForce, true);
  });
});

describe('serve --config: the documented examples', () => {
  for (const doc of ['README.md', 'docs/CONFIG.md']) {
    it(`${doc}'s example file is valid and names every serve flag`, () => {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      const example = /```yaml\n(# sealtrail\.yaml[^]*?)```/.exec(text)?.[1];
      assert.ok(example, 'a yaml block starting "# sealtrail.yaml"');
      const config = read(example);
      assert.ok(config.retention && config.retention.rules.length > 0);
      const named = new Set([...example.matchAll(/^#? ?([a-z-]+):/gm)].map((m) => m[1]));
      for (const flag of Object.keys(serveCommand.options).filter((name) => name !== 'config')) assert.ok(named.has(flag), `${doc} names ${flag}`);
      // Uncommenting every key still reads (the retention-force line too).
      assert.doesNotThrow(() => read(example.replace(/^# ([a-z-]+: )/gm, '$1')));
    });
  }
});

describe('serve --config: precedence', () => {
  it('flags override environment variables, which override the file, which overrides the defaults', () => {
    const file = readConfigFile(configFile('port: 9001\nhost: 10.0.0.1\nrate-limit: 50\nquery-timeout: 7000\n'), serveCommand.options);
    const args = withConfigValues(parseServe(['--port', '9002'], { SEALTRAIL_HOST: '10.0.0.2' }), file);
    assert.equal(args.values.port, '9002', 'the flag');
    assert.equal(args.values.host, '10.0.0.2', 'the environment');
    assert.equal(args.values['rate-limit'], '50', 'the file over the default 2000');
    assert.equal(args.values['integrity-interval'], '1', 'the default where the file says nothing');
    assert.match(args.origins?.['rate-limit'] ?? '', /^rate-limit \(sealtrail-\d+\.yaml line 3\)$/);
    assert.equal(args.origins?.port, undefined);
  });

  it('SEALTRAIL_ADMIN_TOKEN overrides admin-token-file from the file', () => {
    const file = readConfigFile(configFile('admin-token-file: /etc/sealtrail/token\n'), serveCommand.options);
    const overrides = { 'admin-token-file': 'SEALTRAIL_ADMIN_TOKEN' };
    assert.equal(withConfigValues(parseServe([]), file, overrides).values['admin-token-file'], '/etc/sealtrail/token');
    const saved = process.env.SEALTRAIL_ADMIN_TOKEN;
    process.env.SEALTRAIL_ADMIN_TOKEN = ADMIN_TOKEN;
    try {
      assert.equal(withConfigValues(parseServe([]), file, overrides).values['admin-token-file'], undefined);
    } finally {
      if (saved === undefined) delete process.env.SEALTRAIL_ADMIN_TOKEN;
      else process.env.SEALTRAIL_ADMIN_TOKEN = saved;
    }
  });
});

/** Starts `sealtrail serve --config FILE`; resolves with the banner once it listens (or the exit). */
function startServe(args: string[]): Promise<{ child: ChildProcess; stdout: string; stderr: string; code?: number | null }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, SEALTRAIL_ADMIN_TOKEN: ADMIN_TOKEN };
    for (const name of Object.keys(env)) if (name.startsWith('SEALTRAIL_') && name !== 'SEALTRAIL_ADMIN_TOKEN') delete env[name];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (/\nintegrity: /.test(stdout)) resolve({ child, stdout, stderr });
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ child, stdout, stderr, code }));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  await closed;
}

describe('serve --config: at start', () => {
  it('listens as the file says and stores its retention policy once, recorded like retention set', async () => {
    const data = join(dir, 'data-start');
    const path = configFile(
      [
        `data: ${data}`,
        'port: 0',
        'geoip: "off"',
        'integrity-interval: 0',
        'retention-interval: 0',
        'retention:',
        '  rules:',
        '    - id: auth-400d',
        '      action: "auth.*"',
        '      retain: 400d',
        '',
      ].join('\n'),
    );
    const first = await startServe(['--config', path]);
    try {
      assert.equal(first.code, undefined, `exited: ${first.stderr}`);
      assert.match(first.stdout, /^ {14}policy from sealtrail-\d+\.yaml stored as version 1$/m);
      assert.match(first.stdout, /^config: +\S+sealtrail-\d+\.yaml/m);
      assert.match(first.stdout, /^retention: +scheduled purges off/m, 'retention-interval from the file');
      const url = /listening on (\S+)/.exec(first.stdout)![1]!;
      const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const policy = (await (await fetch(`${url}/v1/retention/policy`, { headers })).json()) as { version: number; changed_by: string; rules: Array<{ id: string }> };
      assert.equal(policy.version, 1);
      assert.equal(policy.changed_by, 'serve-config');
      assert.deepEqual(policy.rules.map((r) => r.id), ['auth-400d']);
      const records = await (await fetch(`${url}/v1/ledgers/sealtrail-system/events?q=${encodeURIComponent('action:retention.policy.update')}`, { headers })).text();
      assert.match(records, /"serve-config"/, 'the change is sealed in the system ledger with who made it');
    } finally {
      await stop(first.child);
    }
    // A restart with the same file adds no version.
    const second = await startServe(['--config', path]);
    try {
      assert.equal(second.code, undefined, `exited: ${second.stderr}`);
      assert.match(second.stdout, /^ {14}policy version 1 is the one in sealtrail-\d+\.yaml$/m);
    } finally {
      await stop(second.child);
    }
  });

  it('a bad value from the file names its key and line; the flag overrides it', async () => {
    const path = configFile(`data: ${join(dir, 'data-bad')}\ngeoip: "off"\nport: 99999\n`);
    const bad = await runCli(['serve', '--config', path]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /port \(sealtrail-\d+\.yaml line 3\) must be a whole number from 0 to 65535/);
    const unknown = await runCli(['serve', '--config', configFile('data: x\nhots: 0.0.0.0\n')]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /sealtrail serve: sealtrail-\d+\.yaml line 2: hots: unknown key \(did you mean "host"\?\)/);
    const overridden = await startServe(['--config', path, '--port', '0', '--integrity-interval', '0']);
    try {
      assert.equal(overridden.code, undefined, `exited: ${overridden.stderr}`);
      assert.match(overridden.stdout, /listening on http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      await stop(overridden.child);
    }
  });
});
