import { defineTask } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { runChecks } from '#server/host-checks/index'

export default defineTask({
  meta: { name: 'host:checks', description: 'Check disk space, the store, QEMU and KVM on this host' },
  async run() {
    return { result: await runChecks(await useContext()) }
  },
})
