#!/usr/bin/env node
/** The `sealtrail` command line. Each subcommand has --help. Exit status: 0 ok, 1 failure, 2 usage error. */
import { SealtrailApiError } from '../client/index.js';
import { SealtrailError } from '../core/errors.js';
import { ConfigError } from '../server/deployment.js';
import { StoreError } from '../store/store.js';
import { explainPostgresError } from '../store/postgres/errors.js';
import { helpText, parseCommandArgs, UsageError, type Command } from './command.js';
import { serveCommand } from './commands/serve.js';
import { appendCommand, checkpointCommand, keysCommand, ledgersCommand, proofCommand } from './commands/remote.js';
import { verifyCommand } from './commands/verify.js';
import { dbCommand } from './commands/db.js';
import { searchCommand } from './commands/search.js';
import { timelineCommand } from './commands/timeline.js';
import { eraseCommand, holdsCommand, retentionCommand } from './commands/retention.js';
import { exportCommand } from './commands/export.js';
import { verifyBundleCommand } from './commands/bundle.js';
import { reindexCommand } from './commands/reindex.js';
import { compactCommand } from './commands/compact.js';
import { alertsCommand, detectCommand, rulesCommand } from './commands/detect.js';
import { importCommand } from './commands/import.js';
import { sinksCommand, verifyStreamCommand } from './commands/sinks.js';
import { certificateCommand, reportCommand } from './commands/report.js';

const COMMANDS: Command[] = [serveCommand, ledgersCommand, appendCommand, checkpointCommand, proofCommand, searchCommand, timelineCommand, exportCommand, importCommand, keysCommand, retentionCommand, holdsCommand, eraseCommand, verifyCommand, verifyBundleCommand, sinksCommand, verifyStreamCommand, reportCommand, certificateCommand, alertsCommand, rulesCommand, detectCommand, reindexCommand, compactCommand, dbCommand];

function overview(): string {
  const rows = COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`);
  return `Usage: sealtrail <command> [options]\n\nCommands:\n${rows.join('\n')}\n\nRun \`sealtrail <command> --help\` for a command's options.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(overview());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    process.stdout.write('0.1.0\n');
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`sealtrail: unknown command ${JSON.stringify(name)}\n\n${overview()}`);
    return 2;
  }
  try {
    const args = parseCommandArgs(command, rest);
    if (args === 'help') {
      process.stdout.write(helpText(command));
      return 0;
    }
    return await command.run(args);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`sealtrail ${command.name}: ${error.message}\n\n${helpText(command)}`);
      return 2;
    }
    if (error instanceof SealtrailApiError) {
      process.stderr.write(`sealtrail ${command.name}: server answered ${error.status} ${error.code}: ${error.message}\n`);
      return 1;
    }
    if (error instanceof SealtrailError || error instanceof ConfigError || error instanceof StoreError) {
      process.stderr.write(`sealtrail ${command.name}: ${error.message}\n`);
      return 1;
    }
    const postgres = explainPostgresError(error);
    if (postgres !== undefined) {
      process.stderr.write(`sealtrail ${command.name}: ${postgres}\n`);
      return 1;
    }
    if (typeof (error as NodeJS.ErrnoException).syscall === 'string') {
      // File system errors (missing file, no permission): the message names the path and the problem.
      process.stderr.write(`sealtrail ${command.name}: ${(error as Error).message}\n`);
      return 1;
    }
    if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED' || (error as Error).message === 'fetch failed') {
      process.stderr.write(`sealtrail ${command.name}: cannot reach the server (${(error as Error).message}); check --url\n`);
      return 1;
    }
    process.stderr.write(`sealtrail ${command.name}: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
