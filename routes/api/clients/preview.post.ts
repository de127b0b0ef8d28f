import { defineEventHandler } from 'h3'
import { ClientPreview } from '#schemas/clients'
import { useContext } from '#server/context'
import { previewClient } from '#server/clients/preview'
import { readBody } from '#server/http/input'
import { requestHost } from '#server/http/terminal'

export default defineEventHandler(async (event) => {
  const input = await readBody(event, ClientPreview)
  return previewClient((await useContext()).store, input, requestHost(event))
})
