"""The official `openai` Python client against `llmpool serve`, for tests/it/surface_sdk.rs.

Usage: python sdk.py BASE_URL API_KEY SCENARIO ARGS_JSON

Runs one scenario (a few SDK calls) and prints one JSON object saying what the SDK saw;
the Rust test asserts on it and on what the mock upstreams received. An SDK error that a
scenario does not expect makes the process fail with its traceback.
"""

import json
import sys

import openai
import pydantic
from openai.lib.streaming.chat import ChatCompletionStreamState


def extra(obj, name):
    """A field the SDK's types do not declare (`reasoning_content`), as the SDK keeps it."""
    value = getattr(obj, name, None)
    if value is None and obj is not None and obj.model_extra:
        value = obj.model_extra.get(name)
    return value


def gateway_headers(raw):
    return {
        name: raw.headers.get(name)
        for name in (
            "x-llmpool-provider",
            "x-llmpool-trail",
            "x-llmpool-dropped-params",
        )
    }


def call_out(call):
    return {
        "id": call.id,
        "type": call.type,
        "name": call.function.name,
        "arguments": call.function.arguments,
    }


def message_out(message, finish):
    return {
        "content": message.content,
        "reasoning": extra(message, "reasoning_content"),
        "tool_calls": [call_out(c) for c in (message.tool_calls or [])],
        "finish": finish,
    }


def one_shot(client, **kw):
    """One non-streamed call; returns what the SDK saw and the SDK's message object."""
    raw = client.chat.completions.with_raw_response.create(**kw)
    completion = raw.parse()
    choice = completion.choices[0]
    out = message_out(choice.message, choice.finish_reason)
    out["headers"] = gateway_headers(raw)
    out["object"] = completion.object
    return out, choice.message


def streamed(client, **kw):
    """One streamed call, assembled by the SDK's own accumulator (as `.stream()` does)."""
    raw = client.chat.completions.with_raw_response.create(stream=True, **kw)
    state = ChatCompletionStreamState()
    reasoning, content, fragments, chunks = [], [], [], 0
    for chunk in raw.parse():
        chunks += 1
        state.handle_chunk(chunk)
        for choice in chunk.choices:
            delta = choice.delta
            piece = extra(delta, "reasoning_content")
            if piece:
                reasoning.append(piece)
            if delta.content:
                content.append(delta.content)
            for call in delta.tool_calls or []:
                fragments.append(
                    {
                        "index": call.index,
                        "id": call.id,
                        "name": call.function.name if call.function else None,
                        "arguments": call.function.arguments if call.function else None,
                    }
                )
    final = state.get_final_completion()
    choice = final.choices[0]
    out = message_out(choice.message, choice.finish_reason)
    # What the deltas carried, apart from the SDK's assembly.
    out["delta_reasoning"] = "".join(reasoning) if reasoning else None
    out["delta_content"] = "".join(content)
    out["fragments"] = fragments
    out["chunks"] = chunks
    out["headers"] = gateway_headers(raw)
    return out, choice.message


def ask(client, stream, **kw):
    return streamed(client, **kw) if stream else one_shot(client, **kw)


def tool_round_trip(client, a):
    """The call, the tool results, the answer: as an agent loop written with the SDK does."""
    messages = [{"role": "user", "content": a["prompt"]}]
    common = {"model": a["model"], "tools": a["tools"]}
    first, message = ask(client, a["stream"], messages=messages, **common)
    if a["stream"]:
        # A streamed answer is rebuilt as a plain assistant message.
        messages.append(
            {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {
                            "name": c.function.name,
                            "arguments": c.function.arguments,
                        },
                    }
                    for c in message.tool_calls or []
                ],
            }
        )
    else:
        # The SDK's own message object goes back as is (the pattern OpenAI documents).
        messages.append(message)
    for call in message.tool_calls or []:
        args = json.loads(call.function.arguments)
        messages.append(
            {
                "role": "tool",
                "tool_call_id": call.id,
                "content": json.dumps({"tool": call.function.name, "args": args, "result": "sunny"}),
            }
        )
    second, _ = ask(client, a["stream"], messages=messages, **common)
    return {"first": first, "second": second}


def tool_round_trips(client, a):
    return {"trips": [tool_round_trip(client, trip) for trip in a["trips"]]}


class Place(pydantic.BaseModel):
    location: str


def json_schema(client, a):
    """`response_format` json_schema by hand, `chat.completions.parse` with a model, then
    `json_object`."""
    out, _ = one_shot(
        client,
        model=a["model"],
        messages=[{"role": "user", "content": "Where is the Eiffel Tower? Answer as JSON."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "place", "schema": a["schema"], "strict": True},
        },
    )
    out["parsed_content"] = json.loads(out["content"])
    parsed = client.chat.completions.parse(
        model=a["model"],
        messages=[{"role": "user", "content": "Where is the Eiffel Tower? Answer as JSON (parse)."}],
        response_format=Place,
    )
    place = parsed.choices[0].message.parsed
    plain_json, _ = one_shot(
        client,
        model=a["model"],
        messages=[{"role": "user", "content": "Where is the Eiffel Tower? Answer as a JSON object."}],
        response_format={"type": "json_object"},
    )
    out["json_object"] = json.loads(plain_json["content"])
    out["parse_helper"] = {
        "type": type(place).__name__,
        "location": place.location if place is not None else None,
    }
    return out


def plain(client, a):
    """One call with the given extra fields; a 4xx comes back as data."""
    kw = {"model": a["model"], "messages": [{"role": "user", "content": a["prompt"]}]}
    kw.update(a.get("fields", {}))
    try:
        out, _ = ask(client, a.get("stream", False), **kw)
        out["status"] = 200
    except openai.APIStatusError as e:
        out = {
            "status": e.status_code,
            "error_class": type(e).__name__,
            "message": e.message,
            "headers": gateway_headers(e.response),
        }
    return out


def each(client, a):
    """`plain` for each of a list of calls, in one process."""
    return {"results": [plain(client, call) for call in a["calls"]]}


SCENARIOS = {
    "tool_round_trip": tool_round_trip,
    "tool_round_trips": tool_round_trips,
    "json_schema": json_schema,
    "plain": plain,
    "each": each,
}


def main():
    base_url, api_key, scenario, args = sys.argv[1:5]
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    print(json.dumps(SCENARIOS[scenario](client, json.loads(args))))


if __name__ == "__main__":
    main()
