import { defineNitroPlugin } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { failInterrupted } from '#server/jobs/index'
import { resumeMaintenance } from '#server/profiles/versions'

// Jobs run in this process: one left queued or running by an earlier run can never finish. So
// can a publish or a discard: their maintenance is put back as it was, or finished.
export default defineNitroPlugin(() => {
  useContext()
    .then(async (ctx) => {
      await failInterrupted(ctx)
      await resumeMaintenance(ctx)
    })
    .catch((err) => console.error('[labvirt] interrupted jobs not marked failed:', err))
})
