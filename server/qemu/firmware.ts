import { chmod, constants, copyFile } from 'node:fs/promises'
import { OVMF_VARS_TEMPLATE, type VmSpec } from './args'
import { vmPaths } from './paths'

/**
 * Gives a UEFI VM its own firmware variables (boot entries, Secure Boot keys) before it starts.
 * Seats forget what the guest wrote, as their disks do: a fresh copy at every start; other VMs
 * keep theirs.
 */
export async function prepareFirmware(spec: VmSpec): Promise<void> {
  if (spec.firmware !== 'uefi') return
  const vars = vmPaths(spec.runDir, spec.name).uefiVars
  try {
    await copyFile(OVMF_VARS_TEMPLATE, vars, spec.snapshot ? 0 : constants.COPYFILE_EXCL)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
  }
  await chmod(vars, 0o600)
}
