import { QmpClient, type QmpEvent } from '../qemu/qmp'
import { vmPaths } from '../qemu/paths'

export type MonitorNotice = { id: string; kind: 'event'; event: QmpEvent } | { id: string; kind: 'closed' }

/**
 * One long-lived QMP connection per running VM: QEMU serves a single client per socket, so this
 * connection carries both the events (SHUTDOWN, VNC_CONNECTED, ...) and every command LabVirt
 * sends. A closed connection means the VM is gone or going: the reconciler is told at once.
 */
export class Monitors {
  private clients = new Map<string, QmpClient>()
  private connecting = new Map<string, Promise<QmpClient | undefined>>()

  constructor(private runDir: string, private notify: (n: MonitorNotice) => void) {}

  get(id: string): QmpClient | undefined {
    const c = this.clients.get(id)
    return c && !c.isClosed ? c : undefined
  }

  /** The VM's monitor, connecting if needed; undefined when QMP does not answer (VM dead or hung). */
  ensure(id: string, timeoutMs = 2000): Promise<QmpClient | undefined> {
    const live = this.get(id)
    if (live) return Promise.resolve(live)
    let pending = this.connecting.get(id)
    if (!pending) {
      pending = QmpClient.connect(vmPaths(this.runDir, id).qmp, { timeoutMs })
        .then((client) => {
          this.clients.set(id, client)
          client.on('event', (event) => this.notify({ id, kind: 'event', event }))
          client.once('close', () => {
            if (this.clients.get(id) === client) this.clients.delete(id)
            this.notify({ id, kind: 'closed' })
          })
          return client
        })
        .catch(() => undefined)
        .finally(() => this.connecting.delete(id))
      this.connecting.set(id, pending)
    }
    return pending
  }

  /** Stops watching a VM without touching it (it keeps running). */
  drop(id: string) {
    const c = this.clients.get(id)
    this.clients.delete(id)
    c?.removeAllListeners()
    c?.close()
  }

  ids() {
    return [...this.clients.keys()]
  }

  closeAll() {
    for (const id of [...this.clients.keys()]) this.drop(id)
  }
}
