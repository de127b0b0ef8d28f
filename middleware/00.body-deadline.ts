import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'

// A body must arrive within LABVIRT_REQUEST_TIMEOUT of its headers: a client trickling it a byte at
// a time would otherwise hold a connection (and a handler) for Node's 300 s. Everything LabVirt
// takes in is small; an idle timeout would not do, since each byte restarts it.
export default defineEventHandler(async (event) => {
  const req = event.node.req
  if (req.complete) return
  const { config } = await useContext()
  const timer = setTimeout(() => req.destroy(), config.requestTimeoutMs)
  timer.unref()
  const done = () => clearTimeout(timer)
  req.once('end', done).once('close', done)
  // An upload's handler lifts it once the session is known (server/http/long-body.ts).
  event.context.releaseBodyDeadline = done
})
