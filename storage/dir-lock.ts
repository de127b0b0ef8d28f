import { readFileSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

/** Another live process already serves this data directory. */
export class DataDirLockedError extends Error {
  constructor(public dir: string, public pid: number) {
    super(`${dir} is already used by LabVirt process ${pid}; one server per data directory (share a store between hosts with LABVIRT_STORE_URL)`)
    this.name = 'DataDirLockedError'
  }
}

function alive(pid: number) {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err.code === 'EPERM'
  }
}

/**
 * The file store's compare-and-set is a lock inside one process, so two servers on one data
 * directory would lose each other's writes: the second one refuses to start. A lock left by a
 * crashed server (its pid is gone) is taken over.
 */
export function lockDataDir(dir: string): () => void {
  const path = join(dir, 'labvirt.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' })
      return () => {
        if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path, { force: true })
      }
    } catch (err: any) {
      if (err.code !== 'EEXIST') throw err
      const pid = Number(readFileSync(path, 'utf8').trim())
      if (pid && pid !== process.pid && alive(pid)) throw new DataDirLockedError(dir, pid)
      rmSync(path, { force: true })
    }
  }
  throw new Error(`could not lock ${dir}`)
}
