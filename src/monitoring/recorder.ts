/**
 * The prediction log's entry point on the request path (issue 26): give an answer its id, queue
 * its log line (what was answered, how fast, where from, and the numbers describing the input,
 * never the input) and, for KEEP_INPUTS_MINUTES, the input itself, so that the person can share
 * it with their feedback. Queueing is an array push: the batched writer (src/database/writer.ts)
 * writes off the request path, and a database that is down costs the answer nothing. The numbers
 * of a fields model's input (a review's unknown words) and the metrics are worked out there too,
 * for a batch of lines at a time (`complete`); only an image's, whose pixels are released once the
 * model has run, are worked out while the request has them.
 */
import { orderedId } from './ids';
import type { HeldInput, PredictionRecord, Source } from '../database/types';
import type { RgbImage } from '../image-header';
import type { ImagePredictor } from '../models/model';
import type { PredictOptions, Prediction } from '../predictors/types';

/** What the recorder needs of the batched writer. */
export interface LogSink {
  /** `later`: handed back to `PredictionRecorder.complete` before the line is written. */
  add(record: PredictionRecord, input?: HeldInput, later?: unknown): void;
}

/** Turns a model's input into its log numbers (src/monitoring/features.ts). */
export interface InputDescriber {
  describe(model: string, input: unknown): Record<string, number>;
}

/** An input as it is held for sharing: the uploaded bytes, or a field's text. */
export interface InputBytes {
  mediaType: string;
  bytes: Uint8Array;
}

/** What a route knows of one prediction besides the answer. */
export interface RecordContext {
  source: Source;
  /** performance.now() when the request arrived (res.locals.started). */
  started: number;
  /**
   * Either the input's numbers (`describe`), worked out while the input was at hand (an image's
   * pixels are released after the run), or `modelInput`, described when the line is written.
   */
  features?: Record<string, number>;
  /** The model's input (a fields model's), described off the request path; ignored with `features`. */
  modelInput?: unknown;
  /** The input as it would be shared; absent: nothing to hold. */
  input?: InputBytes;
}

/** What the log keeps of an answer (a whole Prediction, or the model tier's reading of a run's outputs). */
export type Answer = Pick<Prediction, 'model' | 'version' | 'label' | 'value' | 'confidence'>;

/** A prediction with the id that feedback names it by. */
export type Recorded<P extends Answer> = { id: string } & P;

/** A text input held for sharing (a review, a number as typed). */
export const textInput = (text: string): InputBytes => ({ mediaType: 'text/plain; charset=utf-8', bytes: Buffer.from(text, 'utf8') });

export class PredictionRecorder {
  constructor(
    private readonly sink: LogSink,
    private readonly describer: InputDescriber,
    /** KEEP_INPUTS_MINUTES in ms; 0: inputs are not held. */
    private readonly keepInputsMs: number,
    /** Told of each entry (the /metrics counters). */
    private readonly onRecord?: (record: PredictionRecord) => void,
  ) {}

  /**
   * The numbers describing a model's input (a fields model's input, an image's decoded pixels). A
   * describer that fails (a bug) costs the log its numbers, never the answer.
   */
  describe(model: string, input: unknown): Record<string, number> {
    try {
      return this.describer.describe(model, input);
    } catch {
      return {};
    }
  }

  /** The answer with its id first (so it reads first in the JSON), its log line queued. */
  record<P extends Answer>(prediction: P, context: RecordContext): Recorded<P> {
    const at = Date.now();
    const id = orderedId(at);
    const { features } = context;
    const later = features === undefined ? context.modelInput : undefined;
    const record: PredictionRecord = {
      id,
      at,
      model: prediction.model,
      version: prediction.version,
      source: context.source,
      label: prediction.label ?? null,
      value: prediction.value ?? null,
      confidence: prediction.confidence ?? null,
      latencyMs: Math.max(0, performance.now() - context.started),
      features: features ?? {},
    };
    const held: HeldInput | undefined =
      this.keepInputsMs > 0 && context.input !== undefined
        ? { predictionId: id, mediaType: context.input.mediaType, bytes: context.input.bytes, expiresAt: at + this.keepInputsMs }
        : undefined;
    this.sink.add(record, held, later);
    return { id, ...prediction };
  }

  /**
   * An image predicted and recorded: its pixels described while the predictor holds them (they
   * are released once the model has run), `use` given them too (the page's thumbnail). The routes
   * (src/http/record.ts) and the batch command call it.
   */
  async predictImage<T>(
    predictor: ImagePredictor,
    bytes: Uint8Array,
    use: (image: RgbImage) => Promise<T>,
    options: PredictOptions,
    context: Omit<RecordContext, 'features' | 'modelInput'>,
  ): Promise<{ prediction: Recorded<Prediction>; used: T }> {
    let features: Record<string, number> = {};
    const { prediction, used } = await predictor.predictAfter(
      bytes,
      (image) => {
        features = this.describe(predictor.name, image);
        return use(image);
      },
      options,
    );
    return { prediction: this.record(prediction, { ...context, features }), used };
  }

  /**
   * Finishes a queued line before it is written (the writer's `complete`, off the request path):
   * the numbers of the input `record` kept for later, and the metrics told.
   */
  complete(record: PredictionRecord, later: unknown): void {
    if (later !== undefined) record.features = this.describe(record.model, later);
    this.onRecord?.(record);
  }
}
