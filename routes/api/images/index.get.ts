import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { listImages } from '#server/images/index'

export default defineEventHandler(async () => listImages(await useContext()))
