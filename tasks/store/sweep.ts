import { defineTask } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { sweepExpiredSessions } from '#server/auth/sessions'
import { pruneEvents } from '#server/events/index'
import { sweepPending } from '#server/terminals/pending'

export default defineTask({
  meta: { name: 'store:sweep', description: 'Remove expired sessions and week-old pending terminals, prune the event log' },
  async run() {
    const { store } = await useContext()
    const sessions = await sweepExpiredSessions(store)
    const pending = await sweepPending(store)
    const events = await pruneEvents(store)
    return { result: { sessions, pending, events } }
  },
})
