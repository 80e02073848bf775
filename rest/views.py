"""Core records as REST models: the only place the two meet."""

from __future__ import annotations

from crdt_server.core.runs import RunRecord
from crdt_server.core.sessions import SessionState, interview_status
from execution import RunResult
from storage import ParticipantRecord

from .models import ExecutionResult, Participant, RunModel, Session


def participant_view(p: ParticipantRecord) -> Participant:
    return Participant.model_validate(
        {
            "id": p.id,
            "name": p.name,
            "role": p.role,
            "color": p.color,
            "joined_at": p.joined_at,
            "is_online": p.is_online,
        }
    )


def session_view(state: SessionState) -> Session:
    record = state.session
    return Session(
        id=record.id,
        created_at=record.created_at,
        updated_at=record.updated_at,
        expires_at=record.expires_at,
        code=state.code,
        language=state.language,
        version=state.version,
        damaged=state.damaged,
        participants=[participant_view(p) for p in state.participants],
        creator_id=record.creator_id,
        status=interview_status(record),
        started_at=record.started_at,
        ended_at=record.ended_at,
        duration_ms=record.duration_ms,
    )


def result_view(result: RunResult) -> ExecutionResult:
    return ExecutionResult(
        language=result.language,
        stdout=result.stdout,
        stderr=result.stderr,
        exit_code=result.exit_code,
        execution_time=result.execution_time_ms,
        timed_out=result.timed_out,
        memory_exceeded=result.memory_exceeded,
        output_truncated=result.output_truncated,
        sandboxed=result.sandboxed,
    )


def run_view(run: RunRecord) -> RunModel:
    return RunModel.model_validate(run.as_view())
