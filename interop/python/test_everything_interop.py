"""The official MCP Python SDK (PyPI `mcp`) against the `everything` example plugin:
resources, templates, prompts, completion, logging levels, progress, rich content, and the
requests a tool sends the client (elicitation, sampling) and resource subscriptions, which a
client that declares a callback for them gets a session for.

Run by `cargo xtask interop`, which starts the plugin and sets NANOFLEET_EVERYTHING_URL to its
`/mcp` endpoint (no query string).
"""

import base64
import os
from contextlib import asynccontextmanager

import anyio
import pytest
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

BASE_URL = os.environ["NANOFLEET_EVERYTHING_URL"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@asynccontextmanager
async def session(logs: list | None = None, **callbacks):
    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        if logs is not None:
            logs.append((params.level, params.data))

    async with streamable_http_client(f"{BASE_URL}?agent_id=py") as (read, write):
        async with ClientSession(read, write, logging_callback=on_log, **callbacks) as s:
            result = await s.initialize()
            assert result.server_info.name == "everything"
            caps = result.capabilities
            assert caps.resources is not None and caps.prompts is not None
            assert caps.completions is not None and caps.logging is not None
            yield s


@pytest.mark.anyio
async def test_resources_are_listed_and_read_as_text_and_blob():
    async with session() as s:
        listed = (await s.list_resources()).resources
        assert [str(r.uri) for r in listed] == [
            "test://static-text",
            "test://static-binary",
            "test://watched-resource",
        ]
        text = (await s.read_resource("test://static-text")).contents
        assert text[0].text == "This is the content of the static text resource."
        assert text[0].mime_type == "text/plain"
        blob = (await s.read_resource("test://static-binary")).contents
        assert blob[0].mime_type == "image/png"
        assert base64.b64decode(blob[0].blob).startswith(PNG_SIGNATURE)


@pytest.mark.anyio
async def test_templates_are_listed_and_read_with_their_variables():
    async with session() as s:
        templates = (await s.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["test://template/{id}/data"]
        data = (await s.read_resource("test://template/42/data")).contents
        assert '"id":"42"' in data[0].text
        assert data[0].mime_type == "application/json"


@pytest.mark.anyio
async def test_an_unknown_resource_is_resource_not_found():
    async with session() as s:
        with pytest.raises(MCPError) as raised:
            await s.read_resource("test://does-not-exist")
    assert raised.value.code == -32002
    assert "test://does-not-exist" in raised.value.message


@pytest.mark.anyio
async def test_prompts_are_listed_and_expanded_with_their_arguments():
    async with session() as s:
        prompts = {p.name: p for p in (await s.list_prompts()).prompts}
        assert set(prompts) == {
            "test_simple_prompt",
            "test_prompt_with_arguments",
            "test_prompt_with_embedded_resource",
            "test_prompt_with_image",
        }
        args = prompts["test_prompt_with_arguments"].arguments
        assert [(a.name, a.required) for a in args] == [("arg1", True), ("arg2", True)]
        assert args[0].description == "First test argument"

        got = await s.get_prompt("test_prompt_with_arguments", {"arg1": "a", "arg2": "b"})
        assert got.messages[0].role == "user"
        assert got.messages[0].content.text == "Prompt with arguments: arg1='a', arg2='b'"

        image = await s.get_prompt("test_prompt_with_image")
        assert image.messages[0].content.type == "image"
        assert base64.b64decode(image.messages[0].content.data).startswith(PNG_SIGNATURE)


@pytest.mark.anyio
async def test_a_missing_prompt_argument_is_named():
    async with session() as s:
        with pytest.raises(MCPError) as raised:
            await s.get_prompt("test_prompt_with_arguments", {"arg1": "a"})
    assert raised.value.code == -32602
    assert "`arg2`" in raised.value.message


@pytest.mark.anyio
async def test_completion_for_a_prompt_argument_and_a_template_variable():
    async with session() as s:
        prompt_ref = types.PromptReference(type="ref/prompt", name="test_prompt_with_arguments")
        done = await s.complete(prompt_ref, {"name": "arg1", "value": "testi"})
        assert done.completion.values == ["testing"]
        template_ref = types.ResourceTemplateReference(
            type="ref/resource", uri="test://template/{id}/data"
        )
        done = await s.complete(template_ref, {"name": "id", "value": "1"})
        assert done.completion.values == ["1", "123"]
        with pytest.raises(MCPError) as raised:
            await s.complete(
                types.PromptReference(type="ref/prompt", name="nope"),
                {"name": "x", "value": ""},
            )
    assert raised.value.code == -32602


@pytest.mark.anyio
async def test_log_messages_arrive_and_set_level_filters_them():
    logs: list = []
    async with session(logs) as s:
        await s.call_tool("test_tool_with_logging", {})
        assert [data for _, data in logs] == [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ]
        assert {level for level, _ in logs} == {"info"}

        logs.clear()
        await s.set_logging_level("warning")
        await s.call_tool("test_tool_with_logging", {})
        assert logs == [], "info messages are below the level this client set"


@pytest.mark.anyio
async def test_progress_reaches_the_callback_before_the_result():
    seen: list = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with session() as s:
        result = await s.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
    assert not result.is_error
    assert seen == [(0, 100), (50, 100), (100, 100)]


@pytest.mark.anyio
async def test_rich_content_keeps_its_kinds_and_order():
    async with session() as s:
        result = await s.call_tool("test_multiple_content_types", {})
        assert [c.type for c in result.content] == ["text", "image", "resource"]
        assert result.content[2].resource.text == '{"test":"data","value":123}'
        audio = await s.call_tool("test_audio_content", {})
        assert audio.content[0].type == "audio" and audio.content[0].mime_type == "audio/wav"
        failed = await s.call_tool("test_error_handling", {})
        assert failed.is_error


@pytest.mark.anyio
async def test_sampling_reaches_the_clients_model():
    asked = []

    async def on_sampling(context, params: types.CreateMessageRequestParams):
        asked.append((params.messages[0].content.text, params.max_tokens))
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="Paris."),
            model="py-model",
        )

    async with session(sampling_callback=on_sampling) as s:
        result = await s.call_tool("test_sampling", {"prompt": "Capital of France?"})
    assert not result.is_error, result
    assert result.content[0].text == "LLM response: Paris."
    assert asked == [("Capital of France?", 100)]


@pytest.mark.anyio
async def test_elicitation_sends_the_form_and_checks_the_answer():
    forms = []
    answer = {"username": "py", "email": "py@example.com"}

    async def on_elicitation(context, params: types.ElicitRequestParams):
        forms.append((params.message, params.requested_schema))
        return types.ElicitResult(action="accept", content=answer)

    async with session(elicitation_callback=on_elicitation) as s:
        result = await s.call_tool("test_elicitation", {"message": "Who are you?"})
        assert not result.is_error, result
        assert result.content[0].text == (
            'User response: <action: accept, content: {"email":"py@example.com","username":"py"}>'
        )
        message, schema = forms[0]
        assert message == "Who are you?"
        assert schema["required"] == ["username", "email"]

        # An answer that does not fit the form is the tool's error, naming the field.
        answer.pop("email")
        bad = await s.call_tool("test_elicitation", {"message": "Again?"})
        assert bad.is_error
        assert "the required field `email` is missing" in bad.content[0].text


@pytest.mark.anyio
async def test_a_client_without_callbacks_is_not_asked():
    async with session() as s:
        result = await s.call_tool("test_elicitation", {"message": "Who?"})
    assert result.is_error
    assert "cannot be asked for elicitation" in result.content[0].text


@pytest.mark.anyio
async def test_a_subscriber_is_notified_when_the_resource_changes():
    updated = []

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(message.params.uri)

    async def on_sampling(context, params):  # declared so that the client gets a session
        return types.ErrorData(code=-1, message="no model here")

    async with session(sampling_callback=on_sampling, message_handler=on_message) as s:
        await s.subscribe_resource("test://watched-resource")
        told = await s.call_tool("update_watched_resource", {})
        assert told.content[0].text == "notified 1 subscriber(s)"
        with anyio.fail_after(5):
            while not updated:
                await anyio.sleep(0.02)
        assert updated == ["test://watched-resource"]
        await s.unsubscribe_resource("test://watched-resource")
        told = await s.call_tool("update_watched_resource", {})
        assert told.content[0].text == "notified 0 subscriber(s)"
