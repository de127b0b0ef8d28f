import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { getImage } from '#server/images/index'
import { readId } from '#server/http/input'

export default defineEventHandler(async (event) => getImage(await useContext(), readId(event)))
