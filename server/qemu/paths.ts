import { join } from 'node:path'

/** The files a VM owns in the run dir. One function, so the argv and process checks agree on them. */
export function vmPaths(runDir: string, name: string) {
  return {
    pidfile: join(runDir, `${name}.pid`),
    qmp: join(runDir, `${name}.qmp`),
    /**
     * A second QMP socket for tools and admins (debugging, tests): QEMU serves one client per
     * socket and LabVirt's monitor holds `qmp` for as long as the VM runs.
     */
    toolQmp: join(runDir, `${name}.tool.qmp`),
    vnc: join(runDir, `${name}.vnc`),
    /**
     * QEMU's own messages once daemonized (its stderr is /dev/null then, unless -D names a log):
     * why a VM died. QEMU truncates it at each start.
     */
    log: join(runDir, `${name}.log`),
    /** A UEFI VM's own firmware variables (boot entries), copied from OVMF's template. */
    uefiVars: join(runDir, `${name}.vars.fd`),
  }
}

/** The longest unix socket path Linux accepts (sun_path is 108 bytes with its NUL). */
export const UNIX_PATH_MAX = 107

/** QEMU's working directory at start: empty, so nothing a relative path names is a host file. */
export const qemuCwd = (runDir: string) => join(runDir, 'empty')
