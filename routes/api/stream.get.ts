import { createEventStream, defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { useReconciler } from '#server/reconcile/index'
import { useLiveStream } from '#server/live/stream'
import { languageOf } from '#server/http/language'
import { sessionToken } from '#server/http/session'

// The middleware has checked the session; the stream keeps checking it and ends when it goes.
export default defineEventHandler(async (event) => {
  const live = useLiveStream(await useContext(), await useReconciler())
  const stream = createEventStream(event)
  live.add(stream, languageOf(event), sessionToken(event))
  return stream.send()
})
