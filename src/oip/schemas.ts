/**
 * The Open Inference Protocol v2 messages as zod schemas, for the model tier's OpenAPI document
 * (src/http/openapi.ts turns them into JSON Schema). Each answer schema `satisfies` the interface
 * the server builds its answers with (./protocol.ts), and the tests check every answer the model
 * tier gives against them (tests/helpers/openapi-check.ts).
 * Requests are checked by the server's own code (server.ts, tensors.ts decodeTensor), which names
 * each fault; the request schemas say the same in the document, and a test holds them to it.
 */
import { z } from 'zod';
import { DATATYPES, type Datatype, type InferResponse, type ModelMetadata, type RepositoryIndexEntry, type ServerMetadata } from './protocol';

const DATATYPE_NAMES = Object.keys(DATATYPES) as [Datatype, ...Datatype[]];

const datatype = z.enum(DATATYPE_NAMES).meta({ description: 'The element type: BOOL, UINT8, INT64, FP32, or BYTES (UTF-8 strings).' });
const name = z.string().min(1);
const dimensions = z.array(z.int().min(0)).meta({ description: 'Dimensions, row-major; the batch first for a model that batches.' });

/** JSON `data`: the elements in row-major order, flat or nested by dimension. */
export const TensorDataSchema: z.ZodType<unknown[]> = z
  .array(z.union([z.number(), z.string(), z.boolean(), z.lazy(() => TensorDataSchema)]))
  .meta({
    id: 'TensorData',
    description: 'The elements in row-major order, flat or nested by dimension: numbers (FP32, INT64, UINT8), true/false (BOOL) or strings (BYTES).',
  });

const binaryDataSize = z.int().min(0).meta({
  description: "Binary tensor data (Triton's extension): this tensor's bytes follow the JSON header, in order, instead of `data`. BYTES elements are each a 4-byte little-endian length and the UTF-8 bytes.",
});

// Requests: loose objects, as the server ignores fields it does not know.
const RequestTensorSchema = z
  .looseObject({
    name,
    datatype,
    shape: dimensions,
    parameters: z.looseObject({ binary_data_size: binaryDataSize.optional() }).optional(),
    data: TensorDataSchema.optional(),
  })
  .meta({ id: 'RequestTensor', description: 'An input tensor: `data` with as many elements as `shape` holds, or `parameters.binary_data_size`.' });

export const InferRequestSchema = z
  .looseObject({
    id: z.string().optional().meta({ description: 'Returned as is in the answer.' }),
    parameters: z
      .looseObject({ binary_data_output: z.boolean().optional().meta({ description: 'Every output as binary tensor data.' }) })
      .optional(),
    inputs: z.array(RequestTensorSchema).min(1).meta({ description: "Every input of the model (GET /v2/models/{name}), once: the model's datatype and shape, the batch first." }),
    outputs: z
      .array(
        z.looseObject({
          name,
          parameters: z.looseObject({ binary_data: z.boolean().optional().meta({ description: 'This output as binary tensor data.' }) }).optional(),
        }),
      )
      .optional()
      .meta({ description: 'The outputs wanted; all of them when absent.' }),
  })
  .meta({ id: 'InferenceRequest', description: 'An inference request (JSON, or the JSON header of a binary body).' });

// Answers: strict, so that an answer with a field the document lacks fails the tests.
const ResponseTensorSchema = z
  .strictObject({
    name,
    datatype,
    shape: dimensions,
    parameters: z.strictObject({ binary_data_size: binaryDataSize }).optional(),
    data: z.array(z.union([z.number(), z.string(), z.boolean()])).optional().meta({ description: 'The elements, flat, in row-major order.' }),
  })
  .meta({ id: 'ResponseTensor', description: 'An output tensor: `data`, or `parameters.binary_data_size` bytes after the JSON header.' });

export const InferResponseSchema = z
  .strictObject({
    model_name: name,
    model_version: z.string().optional().meta({ description: 'The version that computed this answer.' }),
    id: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    outputs: z.array(ResponseTensorSchema),
  })
  .meta({ id: 'InferenceResponse', description: 'An inference answer (JSON, or the JSON header of a binary answer).' }) satisfies z.ZodType<InferResponse>;

const TensorMetadataSchema = z
  .strictObject({
    name,
    datatype,
    shape: z.array(z.int().min(-1)).meta({ description: '-1 for a dimension of any size; the batch first (-1) for a model that batches.' }),
  })
  .meta({ id: 'TensorMetadata' });

export const ServerMetadataSchema = z
  .strictObject({
    name,
    version: z.string(),
    extensions: z.array(z.string()).meta({ description: 'The protocol extensions served: binary_tensor_data, model_repository (Triton\'s) and model_card (this server\'s).' }),
  })
  .meta({ id: 'ServerMetadata' }) satisfies z.ZodType<ServerMetadata>;

export const ModelMetadataSchema = z
  .strictObject({
    name,
    versions: z.array(z.string()).optional().meta({ description: 'The version served.' }),
    platform: z.string().meta({ description: 'onnxruntime_onnx, as Triton says for an ONNX model.' }),
    inputs: z.array(TensorMetadataSchema),
    outputs: z.array(TensorMetadataSchema),
  })
  .meta({ id: 'ModelMetadata' }) satisfies z.ZodType<ModelMetadata>;

export const RepositoryIndexSchema = z
  .array(
    z.strictObject({
      name,
      version: z.string().optional(),
      state: z.enum(['READY', 'UNAVAILABLE']),
      reason: z.string().meta({ description: 'Why a model is not READY; empty when it is.' }),
    }),
  )
  .meta({ id: 'RepositoryIndex', description: "Every model of the repository (Triton's repository extension)." }) satisfies z.ZodType<RepositoryIndexEntry[]>;
