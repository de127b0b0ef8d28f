import { defineNitroPlugin } from 'nitropack/runtime'

// Everything LabVirt and the QEMUs it starts create is theirs alone: the data dir, the store, the
// images, QEMU's logs, and the QMP and VNC sockets (full control and a password-less screen for
// whoever may connect). First of the plugins, before anything is written.
export default defineNitroPlugin(() => {
  process.umask(0o077)
})
