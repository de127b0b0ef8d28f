import { defineEventHandler } from 'h3'
import { LabCreate } from '#schemas/labs'
import { useContext } from '#server/context'
import { previewLab } from '#server/labs/index'
import { readBody } from '#server/http/input'

/** The seats a lab would get, checked as a create or update would; nothing is saved. */
export default defineEventHandler(async (event) => {
  const input = await readBody(event, LabCreate)
  const { store, config } = await useContext()
  return previewLab(store, input, config.forwardPorts)
})
