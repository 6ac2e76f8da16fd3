/** A worker module that forgot its factory: the local cloud must refuse it at start-up, naming it. */
export const createTrainHandlr = () => async () => ({ batchItemFailures: [] });
