/** One pooled connection, one transaction: committed when `work` resolves, rolled back when it throws. */
import type pg from 'pg';

/**
 * Runs `work` in a transaction on a connection of its own. `rollBack: true` ends it with ROLLBACK even
 * on success (dry runs that decide everything in the database and keep nothing).
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, options: { rollBack?: boolean } = {}): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const value = await work(client);
    await client.query(options.rollBack ? 'ROLLBACK' : 'COMMIT');
    return value;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
