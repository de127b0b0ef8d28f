/**
 * VM names are shared by seats (`<lab>-<n>`), maintenance VMs (`<profile>-maint`) and one-off VMs
 * (any name): these say which names a lab or a profile has or may get, so each kind can refuse a
 * name another already has (two records wanting one VM would restart QEMU forever).
 */

/** `n` when `name` is seat n (1..max) of `lab`, else undefined. */
export function seatOf(name: string, lab: { id: string; max: number }): number | undefined {
  if (!name.startsWith(`${lab.id}-`)) return undefined
  const n = name.slice(lab.id.length + 1)
  return /^[1-9]\d*$/.test(n) && Number(n) <= lab.max ? Number(n) : undefined
}

export const maintenanceVm = (profile: string) => `${profile}-maint`
