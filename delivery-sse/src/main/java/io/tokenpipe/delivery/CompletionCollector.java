package io.tokenpipe.delivery;

import io.tokenpipe.common.log.LogEvent;

import java.io.OutputStream;

/** Gathers one turn's answer for a non-streamed {@code chat.completion}; writes nothing, finishes at the turn's end. */
final class CompletionCollector implements StreamFormat {

    private final TurnEvents turn;

    CompletionCollector(String turnId) {
        this.turn = new TurnEvents(turnId);
    }

    TurnEvents turn() {
        return turn;
    }

    @Override
    public byte[] preamble() {
        return new byte[0];
    }

    @Override
    public byte[] heartbeat() {
        return null;
    }

    @Override
    public boolean write(LogEvent event, OutputStream out) {
        turn.accept(event);
        return false;
    }

    @Override
    public boolean finished() {
        return turn.ended();
    }
}
