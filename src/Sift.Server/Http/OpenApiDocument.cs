using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Sift.Server.Http;

/// <summary>What /openapi/v1.json says beyond what the endpoints' metadata gives.</summary>
internal static class OpenApiDocument
{
    public static void Configure(OpenApiOptions o)
    {
        o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "Sift reranking server";
            doc.Info.Description = "Cross-encoder reranking speaking the Hugging Face TEI (/rerank), Cohere (/v1/rerank, /v2/rerank) and Jina (/v1/rerank) APIs, plus /search over a Sift index. " +
                "With --api-key every route but /health needs 'Authorization: Bearer KEY'.";
            doc.Components ??= new OpenApiComponents();
            doc.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            doc.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "The key the server was started with (--api-key or SIFT_API_KEY); not needed when it has none, nor on /health.",
            };
            doc.Security ??= [];
            doc.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", doc)] = [] });
            return Task.CompletedTask;
        });
        o.AddSchemaTransformer((schema, context, _) =>
        {
            // Scores are written as JSON numbers; the serializer's named-literal setting (NaN) would make them "number or string".
            var t = Nullable.GetUnderlyingType(context.JsonTypeInfo.Type) ?? context.JsonTypeInfo.Type;
            if (t == typeof(float) || t == typeof(double))
            {
                schema.Type = JsonSchemaType.Number;
                schema.Format = t == typeof(float) ? "float" : "double";
                schema.Pattern = null;
                schema.OneOf = null;
                schema.AnyOf = null;
            }
            return Task.CompletedTask;
        });
    }
}
