import { defineTask } from 'nitropack/runtime'
import { useSampler } from '#server/resources/index'

export default defineTask({
  meta: { name: 'resources:sample', description: 'Sample CPU, memory, disk and network of this host and its running VMs' },
  async run() {
    return { result: await (await useSampler()).sample() }
  },
})
