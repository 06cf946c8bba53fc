/**
 * Reading a bundle archive: the zip's central directory (what `unzip` and every other reader shows)
 * lists the files, and each file is inflated only when the verifier asks for it, so that verifying holds
 * the archive and one file in memory, not every file at once.
 *
 * The archive is hostile input: a few hundred KiB can inflate to gigabytes (a "zip bomb"). So the
 * directory is parsed here, not by a library that inflates whole entries, and every entry is inflated as
 * a stream that stops as soon as it produces more than the entry's declared size, more than
 * ZipLimits.maxEntryBytes, or more than what is left of ZipLimits.maxTotalBytes for the whole archive.
 * A limit reached makes that file unreadable (MALFORMED with the reason), never a crash.
 *
 * Refused: an archive whose directory is unreadable, ZIP64, encryption, methods other than stored and
 * deflate, more than maxEntries entries, two entries with one name (readers disagree on which one
 * counts, so a verifier could check one file while a person reads the other), an entry whose local
 * header names another file than the directory (readers that walk local headers would see another
 * archive), and entries that claim more than maxEntryBytes. Directory entries ("events/") that zip
 * tools add are ignored. CRCs are not checked: every file but the manifest is checked against its
 * SHA-256 in the manifest, which is stronger.
 */
import { Inflate } from 'fflate';
import { fail } from '../errors.js';

/** Largest uncompressed entry accepted. An events part of 1,000 events is a few MiB (≤ about 60 MiB at the event size limit). */
export const MAX_ENTRY_BYTES = 128 * 1024 * 1024;

/** How much a verifier is willing to inflate. Each can be raised for a known, trusted large bundle. */
export interface ZipLimits {
  /** Entries in the central directory (65,535 is all a zip without ZIP64 can hold). */
  maxEntries: number;
  /** Uncompressed bytes of one entry. */
  maxEntryBytes: number;
  /** Uncompressed bytes of every read together. */
  maxTotalBytes: number;
}

export const DEFAULT_ZIP_LIMITS: Readonly<ZipLimits> = {
  maxEntries: 65_535,
  maxEntryBytes: MAX_ENTRY_BYTES,
  maxTotalBytes: 4 * 1024 * 1024 * 1024,
};

/** The files of a bundle, read on demand. */
export interface BundleFiles {
  /** Every file name, in archive order. */
  names(): string[];
  /** The bytes of one file; throws if there is no such file or it cannot be read. */
  read(name: string): Uint8Array;
}

/** Files already in memory (a map from name to bytes), e.g. from a browser's own unzip. */
export function filesFromMap(files: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>): BundleFiles {
  const isMap = Object.prototype.toString.call(files) === '[object Map]';
  const map = isMap ? (files as ReadonlyMap<string, Uint8Array>) : new Map(Object.entries(files));
  return {
    names: () => [...map.keys()],
    read(name) {
      const bytes = map.get(name);
      if (bytes === undefined) fail('MALFORMED', `${name}: no such file`);
      return bytes;
    },
  };
}

/** One entry of the central directory: where its data is and how big it says it is. */
interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  declaredSize: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_BYTES = 22;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const STORED = 0;
const DEFLATED = 8;
/** Compressed bytes handed to the inflater at a time: bounds what one step can produce (≈1,032× this). */
const INFLATE_STEP = 16 * 1024;

const utf8Name = new TextDecoder('utf-8', { fatal: true });

/** The central directory's entries, in order. Throws MALFORMED with the rule broken. */
function readDirectory(archive: Uint8Array, limits: ZipLimits): ZipEntry[] {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  // The end record is the last 22 bytes, unless a comment (≤ 65,535 bytes) follows it.
  let eocd = -1;
  for (let at = archive.length - EOCD_BYTES; at >= Math.max(0, archive.length - EOCD_BYTES - 0xffff); at--) {
    if (u32(at) === EOCD_SIGNATURE && at + EOCD_BYTES + u16(at + 20) === archive.length) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail('MALFORMED', 'no end of central directory record (not a zip archive, or cut short)');
  const count = u16(eocd + 10);
  const directoryBytes = u32(eocd + 12);
  const directoryOffset = u32(eocd + 16);
  if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0 || u16(eocd + 8) !== count) fail('MALFORMED', 'multi-volume archives are not bundles');
  if (count === 0xffff || directoryBytes === 0xffffffff || directoryOffset === 0xffffffff) fail('MALFORMED', 'ZIP64 archives are not bundles');
  if (count > limits.maxEntries) fail('MALFORMED', `${count} entries, more than the ${limits.maxEntries} a bundle may have`);
  if (directoryOffset + directoryBytes > eocd) fail('MALFORMED', 'the central directory lies outside the archive');

  const entries: ZipEntry[] = [];
  let at = directoryOffset;
  for (let n = 0; n < count; n++) {
    if (at + CENTRAL_BYTES > eocd || u32(at) !== CENTRAL_SIGNATURE) fail('MALFORMED', `central directory entry ${n + 1} is damaged`);
    const flags = u16(at + 8);
    const nameBytes = u16(at + 28);
    const next = at + CENTRAL_BYTES + nameBytes + u16(at + 30) + u16(at + 32);
    if (next > eocd) fail('MALFORMED', `central directory entry ${n + 1} runs past the directory`);
    let name: string;
    try {
      name = utf8Name.decode(archive.subarray(at + CENTRAL_BYTES, at + CENTRAL_BYTES + nameBytes));
    } catch {
      fail('MALFORMED', `central directory entry ${n + 1} has a name that is not UTF-8`);
    }
    if (flags & 0x1) fail('MALFORMED', `${name}: encrypted entries are not bundles`);
    entries.push({ name, method: u16(at + 10), compressedSize: u32(at + 20), declaredSize: u32(at + 24), localHeaderOffset: u32(at + 42) });
    at = next;
  }
  return entries;
}

/**
 * Opens a zip archive held in memory. MALFORMED (with the reason) when it is not a zip, its directory
 * is damaged or breaks a rule above, or a name repeats; a file that cannot be read within the limits
 * throws MALFORMED when it is read, so that the other files can still be checked.
 */
export function openZip(archive: Uint8Array, limits: Partial<ZipLimits> = {}): BundleFiles {
  const bounds: ZipLimits = { ...DEFAULT_ZIP_LIMITS, ...limits };
  let directory: ZipEntry[];
  try {
    directory = readDirectory(archive, bounds);
  } catch (cause) {
    fail('MALFORMED', `not a readable zip archive (${(cause as Error).message})`);
  }
  const byName = new Map<string, ZipEntry>();
  for (const entry of directory) {
    if (entry.name.endsWith('/') && entry.declaredSize === 0) continue;
    if (byName.has(entry.name)) fail('MALFORMED', `the archive holds two entries named ${entry.name}`);
    if (entry.declaredSize > bounds.maxEntryBytes) {
      fail('MALFORMED', `${entry.name} claims ${entry.declaredSize} bytes, more than the ${bounds.maxEntryBytes} a bundle file may have`);
    }
    byName.set(entry.name, entry);
  }
  let inflatedSoFar = 0;
  return {
    names: () => [...byName.keys()],
    read(name) {
      const entry = byName.get(name);
      if (entry === undefined) fail('MALFORMED', `${name}: no such file in the archive`);
      const data = entryData(archive, entry);
      const budget = bounds.maxTotalBytes - inflatedSoFar;
      if (entry.declaredSize > budget) {
        fail('MALFORMED', `${name}: not read, its ${entry.declaredSize} bytes would pass the ${bounds.maxTotalBytes} bytes this archive may inflate to in total`);
      }
      const bytes = entry.method === STORED ? storedData(entry, data) : inflateBounded(entry, data);
      inflatedSoFar += bytes.length;
      return bytes;
    },
  };
}

/** The compressed bytes of an entry, found through its local header, which must name the same file. */
function entryData(archive: Uint8Array, entry: ZipEntry): Uint8Array {
  const at = entry.localHeaderOffset;
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  if (at + LOCAL_BYTES > archive.length || view.getUint32(at, true) !== LOCAL_SIGNATURE) fail('MALFORMED', `${entry.name}: its local header is missing or damaged`);
  const nameBytes = view.getUint16(at + 26, true);
  const start = at + LOCAL_BYTES + nameBytes + view.getUint16(at + 28, true);
  const localName = archive.subarray(at + LOCAL_BYTES, at + LOCAL_BYTES + nameBytes);
  const centralName = new TextEncoder().encode(entry.name);
  if (localName.length !== centralName.length || localName.some((byte, i) => byte !== centralName[i])) {
    fail('MALFORMED', `${entry.name}: its local header names another file`);
  }
  if (view.getUint16(at + 8, true) !== entry.method) fail('MALFORMED', `${entry.name}: its local header and the directory disagree on the compression method`);
  if (start + entry.compressedSize > archive.length) fail('MALFORMED', `${entry.name}: its data runs past the end of the archive (cut short?)`);
  return archive.subarray(start, start + entry.compressedSize);
}

function storedData(entry: ZipEntry, data: Uint8Array): Uint8Array {
  if (data.length !== entry.declaredSize) fail('MALFORMED', `${entry.name}: stored with ${data.length} bytes, the directory says ${entry.declaredSize}`);
  return data.slice();
}

/**
 * Inflates into a buffer of exactly the declared size, a step at a time, and stops at the first byte
 * beyond it: a lying directory cannot make the verifier allocate or inflate more than it declared, and
 * the declaration itself was bounded before.
 */
function inflateBounded(entry: ZipEntry, data: Uint8Array): Uint8Array {
  if (entry.method !== DEFLATED) fail('MALFORMED', `${entry.name}: compression method ${entry.method} is neither stored nor deflate`);
  const out = new Uint8Array(entry.declaredSize);
  let written = 0;
  const inflater = new Inflate((chunk) => {
    if (written + chunk.length > out.length) {
      fail('MALFORMED', `${entry.name}: inflates to more than the ${entry.declaredSize} bytes the directory declares (a zip bomb?); not read further`);
    }
    out.set(chunk, written);
    written += chunk.length;
  });
  try {
    // The last push is marked final, so compressed data that stops mid-stream fails ("unexpected EOF").
    let at = 0;
    do {
      const end = Math.min(at + INFLATE_STEP, data.length);
      inflater.push(data.subarray(at, end), end === data.length);
      at = end;
    } while (at < data.length);
  } catch (cause) {
    if ((cause as { code?: string }).code === 'MALFORMED') throw cause;
    fail('MALFORMED', `${entry.name}: cannot be inflated (${(cause as Error).message})`);
  }
  if (written !== entry.declaredSize) fail('MALFORMED', `${entry.name}: inflated to ${written} bytes, the directory says ${entry.declaredSize}`);
  return out;
}
