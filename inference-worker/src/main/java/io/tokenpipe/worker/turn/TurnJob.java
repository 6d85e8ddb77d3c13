package io.tokenpipe.worker.turn;

import io.tokenpipe.common.event.KafkaRef;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.worker.kafka.PartitionWriter;
import io.tokenpipe.worker.kafka.StreamRecovery;

/**
 * One prompt to answer.
 *
 * @param resume how far an earlier attempt got, when this turn is taken over; {@code null} for a new turn
 */
public record TurnJob(PromptSubmitted prompt, KafkaRef promptRef, PartitionWriter writer,
                      StreamRecovery.TurnProgress resume) {
}
