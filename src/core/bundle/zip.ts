/**
 * Reading a bundle archive: the zip's central directory (what `unzip` and every other reader shows)
 * lists the files, and each file is inflated only when the verifier asks for it, so that verifying holds
 * the archive and one file in memory, not every file at once.
 *
 * Refused: an archive whose directory is unreadable, two entries with one name (readers disagree on
 * which one counts, so a verifier could check one file while a person reads the other), and entries
 * that claim more than MAX_ENTRY_BYTES (a small archive must not make the verifier allocate gigabytes).
 * Directory entries ("events/") that zip tools add are ignored. CRCs are not checked: every file but
 * the manifest is checked against its SHA-256 in the manifest, which is stronger.
 */
import { unzipSync } from 'fflate';
import { fail } from '../errors.js';

/** Largest uncompressed entry accepted. An events part of 1,000 events is a few MiB. */
export const MAX_ENTRY_BYTES = 256 * 1024 * 1024;

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

/**
 * Opens a zip archive held in memory. MALFORMED (with the reader's message) when it is not a zip, its
 * directory is damaged, or a name repeats.
 */
export function openZip(archive: Uint8Array): BundleFiles {
  const names: string[] = [];
  try {
    unzipSync(archive, {
      filter(file) {
        if (file.name.endsWith('/') && file.originalSize === 0) return false;
        if (names.includes(file.name)) fail('MALFORMED', `the archive holds two entries named ${file.name}`);
        if (file.originalSize > MAX_ENTRY_BYTES) {
          fail('MALFORMED', `${file.name} claims ${file.originalSize} bytes, more than the ${MAX_ENTRY_BYTES} a bundle file may have`);
        }
        names.push(file.name);
        return false;
      },
    });
  } catch (cause) {
    if ((cause as { code?: string }).code === 'MALFORMED') throw cause;
    fail('MALFORMED', `not a readable zip archive (${(cause as Error).message})`);
  }
  return {
    names: () => [...names],
    read(name) {
      let bytes: Uint8Array | undefined;
      let declared = 0;
      try {
        bytes = unzipSync(archive, {
          filter: (file) => {
            if (file.name !== name) return false;
            declared = file.originalSize;
            return true;
          },
        })[name];
      } catch (cause) {
        fail('MALFORMED', `${name}: cannot be extracted (${(cause as Error).message})`);
      }
      if (bytes === undefined) fail('MALFORMED', `${name}: no such file in the archive`);
      if (bytes.length !== declared) fail('MALFORMED', `${name}: extracted ${bytes.length} bytes, the directory says ${declared}`);
      return bytes;
    },
  };
}
