/** Syslog parsing: RFC 5424 and RFC 3164 messages, RFC 6587 framing, and the audit parsers' events. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSyslog } from '../../src/ingest/syslog/message.js';
import { FramingError, SyslogFramer } from '../../src/ingest/syslog/framing.js';
import { syslogEvent } from '../../src/ingest/syslog/events.js';

const NOW = new Date('2026-12-02T10:00:00Z');
const event = (line: string) => syslogEvent(parseSyslog(line, NOW), '192.0.2.1');

describe('syslog messages', () => {
  it('parses RFC 5424 with structured data, escapes and a BOM', () => {
    const m = parseSyslog('<34>1 2026-12-01T22:14:15.003Z mymachine.example.com su - ID47 [exampleSDID@32473 iut="3" eventSource="Appl\\"ic\\]ation"][x@1 a="b"] \uFEFF\'su root\' failed', NOW);
    assert.equal(m.format, 'rfc5424');
    assert.equal(m.facility, 4);
    assert.equal(m.severity, 2);
    assert.equal(m.timestamp, '2026-12-01T22:14:15.003Z');
    assert.equal(m.hostname, 'mymachine.example.com');
    assert.equal(m.appName, 'su');
    assert.equal(m.procId, undefined);
    assert.equal(m.msgId, 'ID47');
    assert.deepEqual(m.structuredData, { 'exampleSDID@32473': { iut: '3', eventSource: 'Appl"ic]ation' }, 'x@1': { a: 'b' } });
    assert.equal(m.message, "'su root' failed");
  });

  it('parses RFC 3164, taking the year that puts the time nearest to now', () => {
    const m = parseSyslog('<38>Dec  1 09:59:01 bastion sshd[4242]: Accepted publickey for alice from 203.0.113.5 port 52144 ssh2', NOW);
    assert.equal(m.format, 'rfc3164');
    assert.equal(m.timestamp, '2026-12-01T09:59:01Z');
    assert.deepEqual([m.hostname, m.appName, m.procId], ['bastion', 'sshd', '4242']);
    assert.equal(parseSyslog('<38>Dec 31 23:00:00 h app: x', new Date('2027-01-01T01:00:00Z')).timestamp, '2026-12-31T23:00:00Z');
  });

  it('keeps what fits no format as the message, never refusing it', () => {
    assert.deepEqual(parseSyslog('no pri at all', NOW), { format: 'unknown', facility: 1, severity: 5, message: 'no pri at all' });
    assert.equal(parseSyslog('<13>1 bad', NOW).message, '1 bad');
    assert.equal(parseSyslog('<999>x', NOW).format, 'unknown');
    const broken = parseSyslog('<13>1 2026-12-01T00:00:00Z h a - - [broken', NOW);
    assert.deepEqual([broken.format, broken.message], ['unknown', '1 2026-12-01T00:00:00Z h a - - [broken']);
  });
});

describe('RFC 6587 framing', () => {
  it('splits octet-counted and LF-terminated frames, across chunk boundaries', () => {
    const framer = new SyslogFramer(1024);
    const stream = Buffer.from('11 <13>1 hello\n<13>line one\n5 <13>x<13>tail');
    const messages: string[] = [];
    for (let i = 0; i < stream.length; i += 3) messages.push(...framer.push(stream.subarray(i, i + 3)));
    messages.push(...framer.end());
    assert.deepEqual(messages, ['<13>1 hello\n'.slice(0, 11), '<13>line one', '<13>x', '<13>tail']);
  });

  it('refuses an octet count over the limit, cuts an over-long line and resumes at the next', () => {
    const over = new SyslogFramer(100);
    assert.deepEqual(over.push(Buffer.from('<13>kept\n101 ')), ['<13>kept']);
    assert.ok(over.error instanceof FramingError);
    assert.deepEqual(over.push(Buffer.from('<13>after\n')), [], 'nothing is read after the break');
    const malformed = new SyslogFramer(100);
    malformed.push(Buffer.from('0x '));
    assert.ok(malformed.error instanceof FramingError);
    const framer = new SyslogFramer(10);
    assert.deepEqual(framer.push(Buffer.from(`<13>${'a'.repeat(50)}`)), ['<13>aaaaaa']);
    assert.deepEqual(framer.push(Buffer.from(`${'b'.repeat(30)}\n<13>ok\n`)), ['<13>ok']);
    assert.equal(framer.truncated, 1);
  });
});

describe('audit messages as events', () => {
  it('maps sshd logins, failures and invalid users', () => {
    const ok = event('<38>Dec  1 09:59:01 bastion sshd[1]: Accepted password for alice from 203.0.113.5 port 52144 ssh2');
    assert.deepEqual([ok.actor, ok.action, ok.category, ok.outcome, ok.origin], [{ type: 'user', id: 'alice' }, 'auth.login', 'auth', 'success', { ip: '203.0.113.5' }]);
    assert.equal(ok.metadata!['ssh.method'], 'password');
    const key = event('<38>Dec  1 09:59:01 bastion sshd[1]: Accepted publickey for bob from 2001:db8::7 port 22 ssh2: ED25519 SHA256:abc');
    assert.equal(key.origin!.ip, '2001:db8::7');
    assert.equal(key.metadata!['ssh.key'], 'ED25519 SHA256:abc');
    const failed = event('<38>Dec  1 09:59:01 bastion sshd[1]: Failed password for invalid user admin from 198.51.100.9 port 40000 ssh2');
    assert.deepEqual([failed.actor.id, failed.outcome, failed.outcome_reason], ['admin', 'failure', 'invalid user']);
    const wrongKey = event('<38>Dec  1 09:59:01 bastion sshd[1]: Failed publickey for carol from 198.51.100.9 port 40000 ssh2');
    assert.equal(wrongKey.outcome_reason, 'wrong publickey');
    const invalid = event('<38>Dec  1 09:59:01 bastion sshd[1]: Invalid user oracle from 198.51.100.10 port 5555');
    assert.deepEqual([invalid.actor.id, invalid.outcome, invalid.origin!.ip], ['oracle', 'failure', '198.51.100.10']);
  });

  it('maps sudo commands and refusals', () => {
    const ran = event('<86>Dec  1 10:00:00 web sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx');
    assert.deepEqual([ran.actor.id, ran.action, ran.category, ran.outcome, ran.targets], ['alice', 'sudo.command', 'execute', 'success', [{ type: 'user', id: 'root' }]]);
    assert.equal(ran.metadata!['process.command_line'], '/usr/bin/systemctl restart nginx');
    const refused = event('<86>Dec  1 10:00:00 web sudo:     bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh');
    assert.deepEqual([refused.actor.id, refused.outcome, refused.outcome_reason], ['bob', 'failure', '3 incorrect password attempts']);
    const notInSudoers = event('<86>Dec  1 10:00:00 web sudo: eve : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh');
    assert.equal(notInSudoers.outcome_reason, 'user NOT in sudoers');
  });

  it('maps su sessions and failures', () => {
    const ok = event('<86>Dec  1 10:00:00 web su[9]: (to root) alice on pts/0');
    assert.deepEqual([ok.actor.id, ok.action, ok.outcome, ok.targets![0]!.id], ['alice', 'su.session', 'success', 'root']);
    assert.equal(event('<86>Dec  1 10:00:00 web su[9]: FAILED SU (to root) bob on pts/1').outcome, 'failure');
    const pam = event('<86>Dec  1 10:00:00 web su[9]: pam_unix(su:session): session opened for user postgres(uid=105) by carol(uid=1000)');
    assert.deepEqual([pam.actor.id, pam.targets![0]!.id, pam.outcome], ['carol', 'postgres', 'success']);
    const pamFail = event('<86>Dec  1 10:00:00 web su[9]: pam_unix(su:auth): authentication failure; logname=dave uid=1000 euid=0 tty=pts/2 ruser=dave rhost=  user=root');
    assert.deepEqual([pamFail.actor.id, pamFail.outcome], ['dave', 'failure']);
  });

  it('maps auditd USER_LOGIN and USER_AUTH, with hex-encoded and quoted accounts', () => {
    const login = event(`<110>Dec  1 10:00:00 db audispd: type=USER_LOGIN msg=audit(1764583200.123:4711): pid=812 uid=0 auid=1000 ses=3 msg='op=login acct=616C69636520736D697468 exe="/usr/sbin/sshd" hostname=? addr=203.0.113.77 terminal=sshd res=failed'`);
    assert.deepEqual([login.actor.id, login.action, login.outcome, login.origin!.ip], ['alice smith', 'auth.login', 'failure', '203.0.113.77']);
    assert.equal(login.occurred_at, '2025-12-01T10:00:00.123Z');
    assert.equal(login.id, 'auditd:db:1764583200.123:4711:USER_LOGIN');
    assert.equal(login.metadata!['process.executable'], '/usr/sbin/sshd');
    const auth = event(`<110>1 2026-12-01T10:00:00Z db audit - - - type=USER_AUTH msg=audit(1764583201.000:4712): pid=900 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=pam_unix acct="bob" exe="/usr/bin/login" hostname=db addr=? terminal=tty1 res=success'`);
    assert.deepEqual([auth.actor.id, auth.action, auth.outcome, auth.origin], ['bob', 'auth.authenticate', 'success', undefined]);
  });

  it('keeps any other message as a generic event with its text and syslog fields', () => {
    const generic = event('<13>1 2026-12-01T10:00:00Z app01 billing 77 INV [meta@32473 k="v"] invoice 42 paid');
    assert.deepEqual([generic.actor, generic.action, generic.outcome], [{ type: 'system', id: 'app01' }, 'syslog.message', 'success']);
    assert.equal(generic.metadata!.message, 'invoice 42 paid');
    assert.equal(generic.metadata!.app_name, 'billing');
    assert.deepEqual(generic.metadata!['sd.meta_32473'], { k: 'v' }, 'the SD-ID with @ (not allowed in metadata keys) as _');
    assert.equal(generic.occurred_at, '2026-12-01T10:00:00Z');
    // A message shaped like sshd's from another program is not believed to be sshd's.
    assert.equal(event('<38>Dec  1 09:59:01 h evil: Accepted password for root from 1.2.3.4 port 1 ssh2').action, 'syslog.message');
    const controls = event('<13>Dec  1 09:59:01 h\u0001x app: \u0007bell');
    assert.ok(controls.actor.id.length > 0);
  });
});
