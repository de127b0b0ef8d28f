import { N_ } from '#schemas/msgid'
import type { VmMessage } from '#schemas/vms'

const HOSTFWD_FAILED = /Could not set up host forwarding rule 'tcp:[^:']*:(\d+)-/

/**
 * Why QEMU would not start, from its own words. A forwarded host port another program holds
 * (another LabVirt data dir's seats, any service) is named, with what to do about it.
 */
export function qemuStartError(output: string): VmMessage {
  const port = HOSTFWD_FAILED.exec(output)?.[1]
  if (port) return { msgid: N_('Host port {port} is in use by another program, so the seat cannot forward it: free it, or give the lab another block (network.hostPort)'), params: { port: Number(port) } }
  return { msgid: N_('QEMU: {output}'), params: { output } }
}
