using System.Net;

namespace Sift.Server.Tests;

/// <summary>Bad input: every error is JSON {"error": {"code", "message"}} naming the field, with the right status.</summary>
[Collection("tiny")]
public sealed class ValidationTests(TinyServerFixture fx)
{
    [Theory]
    [InlineData("/rerank")]
    [InlineData("/v1/rerank")]
    [InlineData("/v2/rerank")]
    public async Task Malformed_json_is_400(string path)
    {
        using var response = await fx.Server.PostRawAsync(path, "{\"query\": \"q\", \"texts\": [");
        await ServerHarness.AssertErrorAsync(response, 400, "malformed_json");
    }

    [Fact]
    public async Task Any_content_type_is_read_as_json()
    {
        // curl -d sends application/x-www-form-urlencoded; clients that forget the header still get an answer.
        using var form = await fx.Server.Client.PostAsync("/rerank", new StringContent("{\"query\": \"q\", \"texts\": [\"a\"]}", System.Text.Encoding.UTF8, "application/x-www-form-urlencoded"));
        Assert.Equal(HttpStatusCode.OK, form.StatusCode);
        using var none = await fx.Server.Client.PostAsync("/v1/rerank", new GatedContent("{\"query\": \"q\", \"documents\": [\"a\"]}"));
        Assert.Equal(HttpStatusCode.OK, none.StatusCode);
    }

    [Fact]
    public async Task Empty_body_is_400()
    {
        using var response = await fx.Server.PostRawAsync("/rerank", "");
        await ServerHarness.AssertErrorAsync(response, 400);
    }

    [Theory]
    [InlineData("/rerank", "{\"texts\": [\"a\"]}", "missing_field", "query")]
    [InlineData("/rerank", "{\"query\": \"q\"}", "missing_field", "texts")]
    [InlineData("/rerank", "{\"query\": 5, \"texts\": [\"a\"]}", "invalid_type", "query")]
    [InlineData("/rerank", "{\"query\": \"q\", \"texts\": \"a\"}", "invalid_type", "texts")]
    [InlineData("/rerank", "{\"query\": \"q\", \"texts\": [\"a\", 3]}", "invalid_type", "texts[1]")]
    [InlineData("/rerank", "{\"query\": \"q\", \"texts\": []}", "invalid_value", "texts")]
    [InlineData("/rerank", "{\"query\": \"q\", \"texts\": [\"a\"], \"raw_scores\": \"yes\"}", "invalid_type", "raw_scores")]
    [InlineData("/rerank", "{\"query\": \"q\", \"texts\": [\"a\"], \"truncate\": 1}", "invalid_type", "truncate")]
    [InlineData("/v1/rerank", "{\"documents\": [\"a\"]}", "missing_field", "query")]
    [InlineData("/v1/rerank", "{\"query\": \"q\"}", "missing_field", "documents")]
    [InlineData("/v1/rerank", "{\"query\": \"q\", \"documents\": [{\"title\": \"x\"}]}", "missing_field", "documents[0].text")]
    [InlineData("/v1/rerank", "{\"query\": \"q\", \"documents\": [\"a\", 1]}", "invalid_type", "documents[1]")]
    [InlineData("/v2/rerank", "{\"query\": \"q\", \"documents\": [\"a\"], \"top_n\": \"3\"}", "invalid_type", "top_n")]
    [InlineData("/v2/rerank", "{\"query\": \"q\", \"documents\": [\"a\"], \"top_n\": 0}", "invalid_value", "top_n")]
    [InlineData("/v2/rerank", "{\"query\": \"q\", \"documents\": [\"a\"], \"top_n\": 1.5}", "invalid_type", "top_n")]
    [InlineData("/v2/rerank", "{\"query\": \"q\", \"documents\": [\"a\"], \"return_documents\": \"true\"}", "invalid_type", "return_documents")]
    [InlineData("/v2/rerank", "{\"model\": 7, \"query\": \"q\", \"documents\": [\"a\"]}", "invalid_type", "model")]
    public async Task Missing_or_mistyped_fields_are_422_naming_the_field(string path, string body, string code, string field)
    {
        using var response = await fx.Server.PostRawAsync(path, body);
        await ServerHarness.AssertErrorAsync(response, 422, code, field);
    }

    [Fact]
    public async Task A_body_that_is_not_an_object_is_422()
    {
        using var response = await fx.Server.PostRawAsync("/rerank", "[1, 2]");
        await ServerHarness.AssertErrorAsync(response, 422, "invalid_type");
    }

    [Fact]
    public async Task Too_many_documents_and_too_large_bodies_are_413()
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { MaxClientBatchSize = 3, MaxPayloadBytes = 2000 }));
        using var many = await server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { "a", "b", "c", "d" } });
        await ServerHarness.AssertErrorAsync(many, 413, "too_many_documents", "texts");
        using var manyCohere = await server.PostJsonAsync("/v1/rerank", new { query = "q", documents = new[] { "a", "b", "c", "d" } });
        await ServerHarness.AssertErrorAsync(manyCohere, 413, "too_many_documents", "documents");
        using var three = await server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { "a", "b", "c" } });
        Assert.Equal(HttpStatusCode.OK, three.StatusCode);

        using var big = await server.PostJsonAsync("/rerank", new { query = "q", texts = new[] { new string('x', 3000) } });
        await ServerHarness.AssertErrorAsync(big, 413, "payload_too_large");

        // Without a Content-Length (chunked), the limit still holds while reading.
        using var content = new GatedContent("{\"query\":\"q\",\"texts\":[\"" + new string('y', 5000) + "\"]}");
        using var chunked = await server.Client.PostAsync("/rerank", content);
        await ServerHarness.AssertErrorAsync(chunked, 413, "payload_too_large");
    }
}
