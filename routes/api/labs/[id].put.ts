import { defineEventHandler } from 'h3'
import { LabUpdate } from '#schemas/labs'
import { useContext } from '#server/context'
import { updateLab } from '#server/labs/index'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event)
  const input = await readBody(event, LabUpdate)
  const { store, config } = await useContext()
  return updateLab(store, actorOf(event), id, input, { ...config.forwardPorts, address: config.forwardAddress })
})
