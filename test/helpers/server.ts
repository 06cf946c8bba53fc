/** Builds the HTTP app over a fresh SQLite deployment in a temporary folder, for inject()-driven tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp, type AppOptions } from '../../src/server/app.js';
import { openDeployment, type Deployment, type DeploymentOptions } from '../../src/server/deployment.js';
import { RetentionService } from '../../src/server/retention.js';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const TEST_DEPLOYMENT = 'api.test';

export interface TestServer {
  app: FastifyInstance;
  adminToken: string;
  deployment: Deployment;
  /** Closes the app and the store and deletes the data folder. */
  cleanup(): Promise<void>;
}

export interface TestServerOptions extends Partial<Pick<AppOptions, 'bodyLimit' | 'maxBatch' | 'adminToken' | 'logger' | 'syslogEnterpriseNumber'>> {
  /** Deployment name (the checkpoint key name and origin prefix); default TEST_DEPLOYMENT. */
  name?: string;
  /** The retention service's clock (µs), to judge expiry as of another day. */
  retentionClock?: () => number;
  /** Geolocation of origin IPs (none by default). */
  locate?: DeploymentOptions['locate'];
}

export async function buildTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealtrail-api-'));
  const deployment = openDeployment({ dataDir, name: options.name ?? TEST_DEPLOYMENT, ...(options.locate ? { locate: options.locate } : {}) });
  const adminToken = options.adminToken ?? TEST_ADMIN_TOKEN;
  const cleanupFolder = async () => {
    await deployment.store.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  let app: FastifyInstance;
  try {
    app = await buildApp({
      store: deployment.store,
      suite: nodeSuite,
      verifierKey: deployment.verifierKey,
      adminToken,
      ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
      ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
      ...(options.syslogEnterpriseNumber !== undefined ? { syslogEnterpriseNumber: options.syslogEnterpriseNumber } : {}),
      ...(options.retentionClock ? { retention: new RetentionService(deployment.store, options.retentionClock) } : {}),
    });
    await app.ready();
  } catch (error) {
    await cleanupFolder();
    throw error;
  }
  return {
    app,
    adminToken,
    deployment,
    async cleanup() {
      await app.close();
      await cleanupFolder();
    },
  };
}
