import { defineEventHandler, setResponseStatus } from 'h3'
import { LabCreate } from '#schemas/labs'
import { useContext } from '#server/context'
import { createLab } from '#server/labs/index'
import { readBody } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const input = await readBody(event, LabCreate)
  const { store, config } = await useContext()
  const lab = await createLab(store, actorOf(event), input, { ...config.forwardPorts, address: config.forwardAddress })
  setResponseStatus(event, 201)
  return lab
})
