/**
 * `sinks:` in the `serve --config` file (docs/CONFIG.md, docs/STREAMS.md): a list of sink definitions,
 * each exactly a POST /v1/sinks body. They are checked when the file is read; at start, each sink the
 * store lacks is created (sealed as made by serve-config). A sink that exists is left as it is, even
 * if the file now says otherwise: changing a stream's definition under it is a remove and an add.
 */
import { ConfigError } from '../server/deployment.js';
import type { SinkService } from '../streams/service.js';
import { SinkExistsError } from '../streams/service.js';
import { parseSinkInput } from '../streams/sink.js';

export function sinksFromConfig(value: unknown, where: string): Array<Record<string, unknown>> {
  if (!Array.isArray(value)) throw new ConfigError(`${where}: must be a list of sinks (each like a POST /v1/sinks body)`);
  const names = new Set<string>();
  return value.map((item, i) => {
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw new ConfigError(`${where}[${i}]: a sink is a mapping (name:, type:, ledgers:, …)`);
    try {
      const { definition } = parseSinkInput(item as Record<string, unknown>);
      if (names.has(definition.name)) throw new Error(`sink ${definition.name} is listed twice`);
      names.add(definition.name);
    } catch (error) {
      throw new ConfigError(`${where}[${i}]: ${(error as Error).message}`);
    }
    return item as Record<string, unknown>;
  });
}

/** Creates the file's sinks the store lacks; returns the start banner's line. */
export async function applyConfiguredSinks(service: SinkService, sinks: Array<Record<string, unknown>>): Promise<string> {
  let created = 0;
  for (const sink of sinks) {
    try {
      await service.create(sink, 'serve-config');
      created++;
    } catch (error) {
      if (!(error instanceof SinkExistsError)) throw error;
    }
  }
  return `${sinks.length} in the config file, ${created} created now`;
}
