import { defineNitroPlugin } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { failInterrupted } from '#server/jobs/index'

// Jobs run in this process: one left queued or running by an earlier run can never finish.
export default defineNitroPlugin(() => {
  useContext()
    .then(failInterrupted)
    .catch((err) => console.error('[labvirt] interrupted jobs not marked failed:', err))
})
