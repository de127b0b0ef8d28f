import { defineTask } from 'nitropack/runtime'
import { useProber } from '#server/readiness/index'

export default defineTask({
  meta: { name: 'seats:probe', description: 'Probe the running seats of this host: ready, or unhealthy and to be restarted' },
  async run() {
    return { result: await (await useProber()).run() }
  },
})
