import { createHash } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { createServer } from 'node:net'

/** Another live process already serves this data directory. */
export class DataDirLockedError extends Error {
  constructor(public dir: string) {
    super(`${dir} is already used by another LabVirt process; one server per data directory (share a store between hosts with LABVIRT_STORE_URL)`)
    this.name = 'DataDirLockedError'
  }
}

/**
 * The file store's compare-and-set is a lock inside one process, so two servers on one data
 * directory would lose each other's writes: the second one refuses to start. The lock is an
 * abstract unix socket named after the directory: the kernel releases it the moment its process
 * dies (kill -9 included), so there is no stale lock file to judge by pids, which zombies and
 * reuse make unreliable.
 */
export async function lockDataDir(dir: string): Promise<() => void> {
  const name = `\0labvirt-${createHash('sha256').update(realpathSync(dir)).digest('hex').slice(0, 40)}`
  const server = createServer((socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new DataDirLockedError(dir) : err))
    server.listen(name, resolve)
  })
  server.unref()
  return () => server.close()
}
