import { N_ } from '#schemas/msgid'
import { ConflictError, DomainError } from '../errors'
import type { QmpClient } from '../qemu/qmp'
import type { VmMonitors } from '../reconcile'
import type { VmView } from '.'

/** The QMP monitor of a VM that runs here; 409 when it does not run (or QMP does not answer). */
export async function monitorOf(reconciler: VmMonitors, vm: Pick<VmView, 'id' | 'pid'>): Promise<QmpClient> {
  const qmp = vm.pid ? await reconciler.monitor(vm.id) : undefined
  if (!qmp) throw new ConflictError(N_('The VM "{id}" is not running'), { id: vm.id })
  return qmp
}

/** A QMP command QEMU refused or did not answer: 502 with QEMU's reason. */
export function qmpFailed(err: unknown): DomainError {
  return new DomainError(502, 'qmp_failed', N_('QEMU did not accept the command: {error}'), { error: (err as Error).message })
}
