import { defineTask } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { NIGHTLY_CHECKS, runChecks } from '#server/host-checks/index'

export default defineTask({
  meta: { name: 'host:images', description: 'qemu-img check of every qcow2 image and profile version' },
  async run() {
    return { result: await runChecks(await useContext(), Object.keys(NIGHTLY_CHECKS)) }
  },
})
