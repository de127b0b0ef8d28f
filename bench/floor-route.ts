import { defineEventHandler, setResponseHeader } from 'h3'

// bench/boot-storm's floor: the bare h3 app's answer, inside LabVirt's Nitro app (its request
// hooks, middleware and router), built in only with LABVIRT_BENCH_FLOOR=1.
export default defineEventHandler((event) => {
  setResponseHeader(event, 'content-type', 'text/plain; charset=utf-8')
  return `'xfreerdp' '/v:127.0.0.1:20000' '/u:student0' '/f'\n`
})
