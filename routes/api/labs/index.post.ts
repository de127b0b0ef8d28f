import { defineEventHandler, setResponseStatus } from 'h3'
import { LabCreate } from '../../../schemas/labs'
import { useContext } from '../../../server/context'
import { createLab } from '../../../server/labs'
import { readBody } from '../../../server/http/input'
import { actorOf } from '../../../server/http/session'

export default defineEventHandler(async (event) => {
  const input = await readBody(event, LabCreate)
  const lab = await createLab((await useContext()).store, actorOf(event), input)
  setResponseStatus(event, 201)
  return lab
})
