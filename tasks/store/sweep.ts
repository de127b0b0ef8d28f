import { defineTask } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { sweepExpiredSessions } from '#server/auth/sessions'
import { pruneEvents } from '#server/events/index'
import { sweepPending } from '#server/terminals/pending'
import { sweepGoneHosts } from '#server/resources/gone-hosts'

export default defineTask({
  meta: { name: 'store:sweep', description: 'Remove expired sessions, week-old pending terminals and the records of hosts gone for a week, prune the event log' },
  async run() {
    const { store } = await useContext()
    const sessions = await sweepExpiredSessions(store)
    const pending = await sweepPending(store)
    const events = await pruneEvents(store)
    const hosts = await sweepGoneHosts(store)
    return { result: { sessions, pending, events, hosts } }
  },
})
