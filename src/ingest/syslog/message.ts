/**
 * Syslog messages: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`) and the BSD format that
 * RFC 3164 describes (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`, what rsyslog's traditional forwarding
 * and most devices send). A message that fits neither is kept whole as the message text, never refused:
 * an audit receiver must not lose what it cannot read.
 */
export interface SyslogMessage {
  format: 'rfc5424' | 'rfc3164' | 'unknown';
  facility: number;
  severity: number;
  /** RFC 3339, when the message carried a usable time. */
  timestamp?: string;
  hostname?: string;
  appName?: string;
  procId?: string;
  msgId?: string;
  /** SD-ID → parameters. */
  structuredData?: Record<string, Record<string, string>>;
  message: string;
}

const PRI = /^<(\d{1,3})>/;
const NIL = '-';

export function parseSyslog(text: string, now: Date = new Date()): SyslogMessage {
  const pri = PRI.exec(text);
  const value = pri ? Number(pri[1]) : 13; // RFC 3164 §4.3.3: no PRI → user.notice
  const base = { facility: value >> 3, severity: value & 7 };
  if (!pri || value > 191) return { ...base, format: 'unknown', message: text };
  const rest = text.slice(pri[0].length);
  if (rest.startsWith('1 ')) {
    const parsed = parse5424(rest.slice(2));
    if (parsed) return { ...base, ...parsed };
  }
  return { ...base, ...parse3164(rest, now) };
}

function parse5424(text: string): Omit<SyslogMessage, 'facility' | 'severity'> | undefined {
  const header = /^(\S+) (\S+) (\S+) (\S+) (\S+) /.exec(text);
  if (!header) return undefined;
  const [, time, host, app, proc, msgId] = header as unknown as [string, string, string, string, string, string];
  const sd = parseStructuredData(text.slice(header[0].length));
  if (!sd) return undefined;
  const timestamp = time === NIL ? undefined : normalizeRfc3339(time);
  let message = sd.rest.startsWith(' ') ? sd.rest.slice(1) : sd.rest;
  if (message.startsWith('\uFEFF')) message = message.slice(1); // the BOM RFC 5424 §6.4 puts before UTF-8 text
  return {
    format: 'rfc5424',
    ...(timestamp ? { timestamp } : {}),
    ...(host !== NIL ? { hostname: host } : {}),
    ...(app !== NIL ? { appName: app } : {}),
    ...(proc !== NIL ? { procId: proc } : {}),
    ...(msgId !== NIL ? { msgId } : {}),
    ...(sd.elements ? { structuredData: sd.elements } : {}),
    message,
  };
}

/** STRUCTURED-DATA: `-` or `[SD-ID PARAM="VALUE" …]…`, with `\"`, `\\` and `\]` escaped in values. */
function parseStructuredData(text: string): { elements?: Record<string, Record<string, string>>; rest: string } | undefined {
  if (text.startsWith(NIL)) return { rest: text.slice(1) };
  const elements: Record<string, Record<string, string>> = Object.create(null) as Record<string, Record<string, string>>;
  let at = 0;
  while (text[at] === '[') {
    const id = /^\[([^\s=\]"]{1,32})/.exec(text.slice(at));
    if (!id) return undefined;
    at += id[0].length;
    const params: Record<string, string> = Object.create(null) as Record<string, string>;
    while (text[at] === ' ') {
      const name = /^ ([^\s=\]"]{1,32})="/.exec(text.slice(at));
      if (!name) return undefined;
      at += name[0].length;
      let value = '';
      while (at < text.length && text[at] !== '"') {
        if (text[at] === '\\' && (text[at + 1] === '"' || text[at + 1] === '\\' || text[at + 1] === ']')) at++;
        value += text[at++];
      }
      if (text[at] !== '"') return undefined;
      at++;
      params[name[1]!] = value;
    }
    if (text[at] !== ']') return undefined;
    at++;
    elements[id[1]!] = { ...params };
  }
  return at === 0 ? undefined : { elements: { ...elements }, rest: text.slice(at) };
}

function normalizeRfc3339(time: string): string | undefined {
  const date = new Date(time);
  if (Number.isNaN(date.getTime()) || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/.test(time)) return undefined;
  return time;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const BSD_TIME = /^([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) /;

function parse3164(text: string, now: Date): Omit<SyslogMessage, 'facility' | 'severity'> {
  let rest = text;
  let timestamp: string | undefined;
  const time = BSD_TIME.exec(rest);
  if (time && MONTHS.includes(time[1]!)) {
    timestamp = bsdTimestamp(time, now);
    rest = rest.slice(time[0].length);
  } else {
    // Some senders (rsyslog's RSYSLOG_ForwardFormat) put an RFC 3339 time where the BSD one goes.
    const iso = /^(\d{4}-\d{2}-\d{2}T\S+) /.exec(rest);
    if (iso && normalizeRfc3339(iso[1]!)) {
      timestamp = iso[1];
      rest = rest.slice(iso[0].length);
    }
  }
  let hostname: string | undefined;
  if (timestamp) {
    const host = /^([^\s:[\]]+) /.exec(rest);
    if (host && !/:$/.test(host[1]!)) {
      hostname = host[1];
      rest = rest.slice(host[0].length);
    }
  }
  const tag = /^([^\s:[\]]{1,48})(?:\[([^\]\s]{1,32})\])?: ?/.exec(rest);
  if (!tag) return { format: timestamp ? 'rfc3164' : 'unknown', ...(timestamp ? { timestamp } : {}), ...(hostname ? { hostname } : {}), message: rest };
  return {
    format: 'rfc3164',
    ...(timestamp ? { timestamp } : {}),
    ...(hostname ? { hostname } : {}),
    appName: tag[1]!,
    ...(tag[2] ? { procId: tag[2] } : {}),
    message: rest.slice(tag[0].length),
  };
}

/** A BSD time has no year or zone: the sender's local time is taken as UTC, in the year that puts it nearest to now. */
function bsdTimestamp(match: RegExpExecArray, now: Date): string {
  const month = MONTHS.indexOf(match[1]!);
  const [day, hour, minute, second] = [match[2]!, match[3]!, match[4]!, match[5]!].map((v) => Number(v.trim()));
  let year = now.getUTCFullYear();
  const at = (y: number) => Date.UTC(y, month, day!, hour, minute, second);
  // A December message read in January belongs to last year; one "tomorrow" is clock skew, not next year.
  if (at(year) - now.getTime() > 86_400_000) year -= 1;
  return new Date(at(year)).toISOString().replace('.000Z', 'Z');
}
