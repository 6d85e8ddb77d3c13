package io.tokenpipe.worker.turn;

import io.tokenpipe.common.event.KafkaRef;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.log.TurnOutput;

/**
 * One prompt to answer.
 *
 * @param promptRef where the prompt lies in Kafka, for provenance; {@code null} when it came from elsewhere
 * @param output    where the turn's events go
 * @param resume    how far an earlier attempt got, when this turn is taken over; {@code null} for a new turn
 */
public record TurnJob(PromptSubmitted prompt, KafkaRef promptRef, TurnOutput output, TurnProgress resume) {
}
