// The wire shapes of the TCR API 2019-09-24 actions we call: request bodies and Schema decoders for responses.
//
// Field names follow the official SDK's typings (tencentcloud-sdk-nodejs 4.1.313,
// services/tcr/v20190924/tcr_models.d.ts) and the API reference, including their quirks: the instance list filter
// is spelled `Registryids`, the VPC link IP of DescribeInternalEndpointDnsStatus is `EniLBIp`. Fields the API
// documents as "may return null" are decoded as absent-or-null.
import { Schema } from "effect"

/** The API version every action here belongs to. */
export const tcrApiVersion = "2019-09-24"

const Nullable = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

/** One TCR API action: its name, the request body it takes and the decoder of its `Response` object. */
export interface TcrAction<Request, Response> {
  readonly name: string
  readonly request: Schema.Codec<Request, unknown>
  readonly response: Schema.Codec<Response, unknown>
}

const action = <Request, Response>(
  name: string,
  request: Schema.Codec<Request, unknown>,
  response: Schema.Codec<Response, unknown>
): TcrAction<Request, Response> => ({ name, request, response })

const RequestId = Schema.optional(Schema.String)

// DescribeInstances

export const Filter = Schema.Struct({ Name: Schema.String, Values: Schema.Array(Schema.String) })

export const DescribeInstancesRequest = Schema.Struct({
  Registryids: Schema.optional(Schema.Array(Schema.String)),
  Offset: Schema.optional(Schema.Int),
  Limit: Schema.optional(Schema.Int),
  Filters: Schema.optional(Schema.Array(Filter)),
  AllRegion: Schema.optional(Schema.Boolean)
})

export const Registry = Schema.Struct({
  RegistryId: Schema.String,
  RegistryName: Schema.String,
  RegistryType: Nullable(Schema.String),
  Status: Schema.String,
  PublicDomain: Nullable(Schema.String),
  CreatedAt: Nullable(Schema.String),
  RegionName: Nullable(Schema.String),
  RegionId: Nullable(Schema.Number),
  InternalEndpoint: Nullable(Schema.String),
  ExpiredAt: Nullable(Schema.String),
  DeletionProtection: Nullable(Schema.Boolean)
})
export type Registry = typeof Registry.Type

export const DescribeInstancesResponse = Schema.Struct({
  TotalCount: Nullable(Schema.Int),
  Registries: Nullable(Schema.Array(Registry)),
  RequestId
})

export const DescribeInstances = action("DescribeInstances", DescribeInstancesRequest, DescribeInstancesResponse)

// CreateInstanceToken

export const TokenType = Schema.Literals(["longterm", "temp"])
export type TokenType = typeof TokenType.Type

export const CreateInstanceTokenRequest = Schema.Struct({
  RegistryId: Schema.String,
  TokenType: Schema.optional(TokenType),
  Desc: Schema.optional(Schema.String)
})

export const CreateInstanceTokenResponse = Schema.Struct({
  Username: Nullable(Schema.String),
  /** The password for docker login; decoded straight into Redacted so that it cannot be logged by accident. */
  Token: Schema.RedactedFromValue(Schema.String, { label: "TCR token" }),
  /** Expiry as milliseconds since the epoch (the API reference calls it "a timestamp number without unit"). */
  ExpTime: Schema.Number,
  /** Empty or absent for temporary tokens. */
  TokenId: Nullable(Schema.String),
  RequestId
})

export const CreateInstanceToken = action(
  "CreateInstanceToken",
  CreateInstanceTokenRequest,
  CreateInstanceTokenResponse
)

// DescribeInstanceToken (long-term tokens only)

export const DescribeInstanceTokenRequest = Schema.Struct({
  RegistryId: Schema.String,
  Limit: Schema.optional(Schema.Int),
  Offset: Schema.optional(Schema.Int)
})

export const TcrInstanceToken = Schema.Struct({
  Id: Schema.String,
  Desc: Nullable(Schema.String),
  RegistryId: Schema.String,
  Enabled: Schema.Boolean,
  CreatedAt: Nullable(Schema.String),
  ExpiredAt: Nullable(Schema.Number)
})

export const DescribeInstanceTokenResponse = Schema.Struct({
  TotalCount: Nullable(Schema.Int),
  Tokens: Nullable(Schema.Array(TcrInstanceToken)),
  RequestId
})

export const DescribeInstanceToken = action(
  "DescribeInstanceToken",
  DescribeInstanceTokenRequest,
  DescribeInstanceTokenResponse
)

// DeleteInstanceToken

export const DeleteInstanceTokenRequest = Schema.Struct({ RegistryId: Schema.String, TokenId: Schema.String })
export const DeleteInstanceTokenResponse = Schema.Struct({ RequestId })
export const DeleteInstanceToken = action(
  "DeleteInstanceToken",
  DeleteInstanceTokenRequest,
  DeleteInstanceTokenResponse
)

// ModifyInstanceToken (a long-term token's description, or whether it is enabled, changed in place)

/** ModifyFlag 1 changes the description (Desc); 2, the API's default, enables or disables the token (Enable). */
export const ModifyInstanceTokenRequest = Schema.Struct({
  RegistryId: Schema.String,
  TokenId: Schema.String,
  Enable: Schema.optionalKey(Schema.Boolean),
  Desc: Schema.optionalKey(Schema.String),
  ModifyFlag: Schema.optionalKey(Schema.Literals([1, 2]))
})
export const ModifyInstanceTokenResponse = Schema.Struct({ RequestId })
export const ModifyInstanceToken = action(
  "ModifyInstanceToken",
  ModifyInstanceTokenRequest,
  ModifyInstanceTokenResponse
)

// DescribeInternalEndpoints (the instance's VPC access links)

export const DescribeInternalEndpointsRequest = Schema.Struct({ RegistryId: Schema.String })

export const AccessVpc = Schema.Struct({
  VpcId: Nullable(Schema.String),
  SubnetId: Nullable(Schema.String),
  /** "Running" once the link carries traffic; "Creating", "Deleting", "Failed" otherwise. */
  Status: Nullable(Schema.String),
  AccessIp: Nullable(Schema.String)
})

export const DescribeInternalEndpointsResponse = Schema.Struct({
  AccessVpcSet: Nullable(Schema.Array(AccessVpc)),
  TotalCount: Nullable(Schema.Int),
  RequestId
})

export const DescribeInternalEndpoints = action(
  "DescribeInternalEndpoints",
  DescribeInternalEndpointsRequest,
  DescribeInternalEndpointsResponse
)

// DescribeInternalEndpointDnsStatus (whether Tencent Cloud private DNS resolves the instance's domain in a VPC)

export const VpcAndDomainInfo = Schema.Struct({
  InstanceId: Schema.String,
  VpcId: Schema.String,
  EniLBIp: Schema.String,
  /** true: the default domain `<name>.tencentcloudcr.com`; false: the dedicated `<name>-vpc.tencentcloudcr.com`. */
  UsePublicDomain: Schema.optional(Schema.Boolean),
  RegionName: Schema.optional(Schema.String)
})

export const DescribeInternalEndpointDnsStatusRequest = Schema.Struct({ VpcSet: Schema.Array(VpcAndDomainInfo) })

export const VpcPrivateDomainStatus = Schema.Struct({
  Region: Nullable(Schema.String),
  VpcId: Nullable(Schema.String),
  /** "ENABLE"/"ENABLED" when resolution is on, "DISABLE"/"DISABLED" when off, "ERROR" when the query failed. */
  Status: Nullable(Schema.String)
})

export const DescribeInternalEndpointDnsStatusResponse = Schema.Struct({
  VpcSet: Nullable(Schema.Array(VpcPrivateDomainStatus)),
  RequestId
})

export const DescribeInternalEndpointDnsStatus = action(
  "DescribeInternalEndpointDnsStatus",
  DescribeInternalEndpointDnsStatusRequest,
  DescribeInternalEndpointDnsStatusResponse
)

// DescribeInstanceCustomizedDomain

export const DescribeInstanceCustomizedDomainRequest = Schema.Struct({
  RegistryId: Schema.String,
  Limit: Schema.optional(Schema.Int),
  Offset: Schema.optional(Schema.Int)
})

export const CustomizedDomainInfo = Schema.Struct({
  RegistryId: Schema.String,
  CertId: Nullable(Schema.String),
  DomainName: Schema.String,
  /** SUCCESS, FAILURE, CREATING or DELETING. */
  Status: Schema.String
})

export const DescribeInstanceCustomizedDomainResponse = Schema.Struct({
  DomainInfoList: Nullable(Schema.Array(CustomizedDomainInfo)),
  TotalCount: Nullable(Schema.Int),
  RequestId
})

export const DescribeInstanceCustomizedDomain = action(
  "DescribeInstanceCustomizedDomain",
  DescribeInstanceCustomizedDomainRequest,
  DescribeInstanceCustomizedDomainResponse
)
